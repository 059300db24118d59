package import Foundation
package import PazGatewayAPI
package import PazHTTP

extension Client {
    /// A client of the gateway at `url` (e.g. `http://127.0.0.1:8480`; operations carry their full
    /// paths such as `/v1/status`), authenticated with `token` when given.
    package init(gateway url: URL, token: String?, http: PazHTTP.HTTPClient) {
        self.init(
            serverURL: url, configuration: .gatewayAPI, transport: CurlTransport(client: http),
            middlewares: token.map { [BearerTokenMiddleware(token: $0)] } ?? [])
    }
}
