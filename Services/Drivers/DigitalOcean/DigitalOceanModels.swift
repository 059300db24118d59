import Foundation

/// The parts of DigitalOcean API v2 documents the driver reads and writes (field names as the API's
/// OpenAPI description spells them).
enum DigitalOcean {
    struct Droplet: Decodable {
        var id: Int
        var name: String
        var status: String
        var tags: [String]?
        var networks: Networks?
        var size_slug: String?
        var image: Image?
        var region: Region?

        struct Networks: Decodable {
            var v4: [Address]?
        }

        struct Address: Decodable {
            var ip_address: String
            var type: String
        }

        struct Image: Decodable {
            var id: Int?
            var slug: String?
            var name: String?
        }

        struct Region: Decodable {
            var slug: String
        }
    }

    struct DropletCreate: Encodable {
        var name: String
        var region: String
        var size: String
        var image: String
        var ssh_keys: [Int]
        var tags: [String]
        var user_data: String
        var monitoring = false
        var ipv6 = false
    }

    struct DropletAnswer: Decodable {
        var droplet: Droplet
        var links: ActionLinks?

        struct ActionLinks: Decodable {
            var actions: [Link]?
        }

        struct Link: Decodable {
            var id: Int?
            var rel: String?
        }
    }

    struct DropletPage: Decodable {
        var droplets: [Droplet]
        var links: PageLinks?
    }

    struct Action: Decodable {
        var id: Int
        var status: String
        var type: String?
    }

    struct ActionAnswer: Decodable {
        var action: Action
    }

    struct ActionRequest: Encodable {
        var type: String
    }

    struct SSHKey: Decodable {
        var id: Int
        var name: String
        var public_key: String
        var fingerprint: String?
    }

    struct SSHKeyAnswer: Decodable {
        var ssh_key: SSHKey
    }

    struct SSHKeyPage: Decodable {
        var ssh_keys: [SSHKey]
        var links: PageLinks?
    }

    struct SSHKeyCreate: Encodable {
        var name: String
        var public_key: String
    }

    struct TagCreate: Encodable {
        var name: String
    }

    struct Firewall: Decodable {
        var id: String
        var name: String
        var tags: [String]?
    }

    struct FirewallAnswer: Decodable {
        var firewall: Firewall
    }

    struct FirewallPage: Decodable {
        var firewalls: [Firewall]
        var links: PageLinks?
    }

    struct FirewallCreate: Encodable {
        var name: String
        var inbound_rules: [Rule]
        var outbound_rules: [Rule]
        var tags: [String]

        struct Rule: Encodable {
            var protocol_: String
            var ports: String
            var sources: Addresses?
            var destinations: Addresses?

            enum CodingKeys: String, CodingKey {
                case protocol_ = "protocol"
                case ports, sources, destinations
            }
        }

        struct Addresses: Encodable {
            var addresses: [String]
        }
    }

    struct Account: Decodable {
        var account: Details

        struct Details: Decodable {
            var droplet_limit: Int?
        }
    }

    struct Image: Decodable {
        var id: Int
        var name: String?
        var slug: String?
        var distribution: String?
        var created_at: String?
        var status: String?
        var regions: [String]?
    }

    struct ImagePage: Decodable {
        var images: [Image]
        var links: PageLinks?
    }

    struct Size: Decodable {
        var slug: String
        var description: String?
        var vcpus: Int
        var memory: Int
        var disk: Int
        var price_hourly: Double?
        var available: Bool?
        var regions: [String]?
    }

    struct SizePage: Decodable {
        var sizes: [Size]
        var links: PageLinks?
    }

    struct Region: Decodable {
        var slug: String
        var name: String
        var available: Bool?
    }

    struct RegionPage: Decodable {
        var regions: [Region]
        var links: PageLinks?
    }

    struct PageLinks: Decodable {
        var pages: Pages?

        struct Pages: Decodable {
            var next: String?
        }
    }

    struct ErrorBody: Decodable {
        var id: String?
        var message: String?
    }

    struct DropletMeta: Decodable {
        var meta: Meta

        struct Meta: Decodable {
            var total: Int?
        }
    }
}
