import Glibc

/// A TCP port on 127.0.0.1 that nothing listens on now (the kernel's pick for port 0), for a
/// daemon that must come back on the same port after a restart.
func freeLoopbackPort() throws -> Int {
    let probe = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard probe >= 0 else { throw TestFailure("socket: errno \(errno)") }
    defer { close(probe) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let result = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(probe, $0, length) == 0 ? getsockname(probe, $0, &length) : -1 }
    }
    guard result == 0 else { throw TestFailure("cannot find a free port: errno \(errno)") }
    return Int(UInt16(bigEndian: address.sin_port))
}
