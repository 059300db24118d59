import Foundation

/// The parts of Hetzner Cloud API v1 documents the driver reads and writes (field names as the API's
/// OpenAPI description spells them).
enum Hetzner {
    struct Server: Decodable {
        var id: Int
        var name: String
        var status: String
        var labels: [String: String]?
        var public_net: PublicNet?
        var private_net: [PrivateNet]?
        var server_type: Named?
        var image: Image?
        var location: Named?

        struct PublicNet: Decodable {
            var ipv4: IPv4?
        }

        struct IPv4: Decodable {
            var ip: String
        }

        struct PrivateNet: Decodable {
            var ip: String?
        }

        struct Named: Decodable {
            var name: String
        }

        struct Image: Decodable {
            var id: Int
            var name: String?
        }
    }

    struct ServerCreate: Encodable {
        var name: String
        var server_type: String
        var image: String
        var location: String
        var ssh_keys: [String]
        var user_data: String
        var labels: [String: String]
        var start_after_create = true
        var public_net = PublicNet()

        struct PublicNet: Encodable {
            var enable_ipv4 = true
            var enable_ipv6 = false
        }
    }

    struct ServerAnswer: Decodable {
        var server: Server
        var action: Action?
    }

    struct ServerPage: Decodable {
        var servers: [Server]
        var meta: Meta?
    }

    struct Action: Decodable {
        var id: Int
        var command: String
        var status: String
        var error: ActionError?

        struct ActionError: Decodable {
            var code: String?
            var message: String?
        }
    }

    struct ActionAnswer: Decodable {
        var action: Action
    }

    struct OptionalActionAnswer: Decodable {
        var action: Action?
    }

    struct SSHKey: Decodable {
        var id: Int
        var name: String
        var public_key: String
    }

    struct SSHKeyAnswer: Decodable {
        var ssh_key: SSHKey
    }

    struct SSHKeyPage: Decodable {
        var ssh_keys: [SSHKey]
        var meta: Meta?
    }

    struct SSHKeyCreate: Encodable {
        var name: String
        var public_key: String
        var labels: [String: String]
    }

    struct Firewall: Decodable {
        var id: Int
        var name: String
        var applied_to: [Applied]?

        struct Applied: Decodable {
            var type: String
            var label_selector: Selector?
        }

        struct Selector: Decodable {
            var selector: String
        }
    }

    struct ActionList: Decodable {
        var actions: [Action]
    }

    struct FirewallAnswer: Decodable {
        var firewall: Firewall
    }

    struct FirewallPage: Decodable {
        var firewalls: [Firewall]
        var meta: Meta?
    }

    struct FirewallCreate: Encodable {
        var name: String
        var labels: [String: String]
        var rules: [Rule]
        var apply_to: [Target]

        struct Rule: Encodable {
            var direction: String
            var protocol_: String
            var port: String
            var source_ips: [String]
            var description: String

            enum CodingKeys: String, CodingKey {
                case protocol_ = "protocol"
                case direction, port, source_ips, description
            }
        }
    }

    struct FirewallRemoval: Encodable {
        var remove_from: [Target]
    }

    struct Target: Encodable {
        var type = "label_selector"
        var label_selector: Selector

        struct Selector: Encodable {
            var selector: String
        }
    }

    struct Image: Decodable {
        var id: Int
        var name: String?
        var description: String
        var os_flavor: String
        var created: String
        var status: String
    }

    struct ImagePage: Decodable {
        var images: [Image]
        var meta: Meta?
    }

    struct ServerType: Decodable {
        var name: String
        var description: String
        var cores: Int
        var memory: Double
        var disk: Double
        var deprecated: Bool?
        var locations: [Named]?
        var prices: [Price]?

        struct Named: Decodable {
            var name: String
        }

        struct Price: Decodable {
            var location: String
            var price_hourly: Amount
        }

        struct Amount: Decodable {
            var gross: String
        }
    }

    struct ServerTypePage: Decodable {
        var server_types: [ServerType]
        var meta: Meta?
    }

    struct Location: Decodable {
        var name: String
        var city: String
        var country: String
        var description: String
    }

    struct LocationPage: Decodable {
        var locations: [Location]
        var meta: Meta?
    }

    struct Meta: Decodable {
        var pagination: Pagination?

        struct Pagination: Decodable {
            var next_page: Int?
            var total_entries: Int?
        }
    }

    struct ErrorBody: Decodable {
        var error: Detail

        struct Detail: Decodable {
            var code: String
            var message: String
        }
    }
}
