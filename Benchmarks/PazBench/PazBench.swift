import ArgumentParser

/// `paz-bench`: one subcommand per benchmark case. Each case starts what it needs on free loopback
/// ports, prints its figures, and ends with exactly one line `<case>: <value> <unit>`.
@main
struct PazBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "paz-bench",
        abstract: "Paz Machine benchmarks (results are recorded in docs/benchmarks.md).",
        subcommands: BenchmarkCases.all
    )
}
