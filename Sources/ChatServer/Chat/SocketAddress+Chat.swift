import ChatCore
import NIOCore

extension SocketAddress {
    /// The IP address as 4 or 16 bytes, for matching against bans.
    var ipBytes: [UInt8]? {
        ipAddress.flatMap(AddressPattern.parseAddress)
    }

    /// The address as logged and shown: `127.0.0.1:7777`, `[::1]:7777`.
    static func describe(_ address: SocketAddress) -> String {
        guard let ip = address.ipAddress, let port = address.port else { return "\(address)" }
        return HostAndPort(host: ip, port: port).description
    }
}
