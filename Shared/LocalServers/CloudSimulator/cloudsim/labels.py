"""Hetzner label selectors: `k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a,b)`, joined by commas."""
import re

_TERM = re.compile(
    r"\s*(?:(?P<not>!)\s*(?P<absent>[\w./-]+)"
    r"|(?P<setkey>[\w./-]+)\s+(?P<op>in|notin)\s*\((?P<values>[^)]*)\)"
    r"|(?P<key>[\w./-]+)\s*(?:(?P<cmp>==|!=|=)\s*(?P<value>[\w./-]*))?)\s*(?:,|$)"
)


def parse(selector):
    """A predicate on a labels dict; raises ValueError for a selector it cannot read."""
    terms, position = [], 0
    selector = selector.strip()
    while position < len(selector):
        match = _TERM.match(selector, position)
        if not match or match.end() == position:
            raise ValueError(f"invalid label selector at {selector[position:]!r}")
        terms.append(match)
        position = match.end()

    def test(labels):
        for term in terms:
            if term["absent"]:
                if term["absent"] in labels:
                    return False
            elif term["setkey"]:
                values = {v.strip() for v in term["values"].split(",")}
                present = labels.get(term["setkey"]) in values
                if present != (term["op"] == "in"):
                    return False
            elif term["cmp"] in ("=", "=="):
                if labels.get(term["key"]) != term["value"]:
                    return False
            elif term["cmp"] == "!=":
                if labels.get(term["key"]) == term["value"]:
                    return False
            elif term["key"] not in labels:
                return False
        return True

    return test
