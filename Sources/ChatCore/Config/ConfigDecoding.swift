extension Config {
    /// Parses a configuration document. Keys left out keep their defaults; every problem is
    /// reported, not just the first.
    public static func parse(_ text: String) -> Result<Config, ConfigError> {
        let document: JSONValue
        do {
            document = try JSONValue.parse(text)
        } catch {
            return .failure(ConfigError([ConfigIssue(path: "", message: "not valid JSON: \(error)")]))
        }
        var reader = ConfigReader()
        var config = Config()
        reader.object(document, path: "") { r, o in
            r.section(&o, "server") { r, o in
                r.string(&o, "server.name", into: &config.server.name) { $0.isEmpty ? "must not be empty" : nil }
                r.stringArray(&o, "server.motd", into: &config.server.motd)
                r.string(&o, "server.defaultRoom", into: &config.server.defaultRoom) { name in
                    switch RoomName.validate(name, maxLength: 200) {
                    case .success: name.hasPrefix("#") ? nil : "must start with '#'"
                    case .failure(let error): error.description
                    }
                }
            }
            r.addresses(&o, "listen", into: &config.listen)
            r.integer(&o, "eventLoops", into: &config.eventLoops, in: Rule.eventLoops)
            r.number(&o, "shutdownTimeoutSeconds", into: &config.shutdownTimeoutSeconds, in: 0...3600)
            r.section(&o, "logging") { r, o in
                r.string(&o, "logging.level", into: &config.logging.level, check: Rule.logLevel)
                r.bool(&o, "logging.logMessages", into: &config.logging.logMessages)
            }
            r.section(&o, "admin") { r, o in
                r.string(&o, "admin.socket", into: &config.admin.socket, check: Rule.adminSocket)
                r.string(&o, "admin.group", into: &config.admin.group)
            }
            r.section(&o, "web") { r, o in
                r.bool(&o, "web.enabled", into: &config.web.enabled)
                r.addresses(&o, "web.listen", into: &config.web.listen, allowEmpty: true)
                r.addresses(&o, "web.tlsListen", into: &config.web.tlsListen, allowEmpty: true)
                r.stringArray(&o, "web.allowedOrigins", into: &config.web.allowedOrigins) { origin in
                    WebOrigin(origin) == nil ? "must be an origin: http:// or https://, a host and an optional port, no path" : nil
                }
                r.stringArray(&o, "web.allowedHosts", into: &config.web.allowedHosts) { host in
                    WebOrigin.isHostName(host) ? nil : "must be a host name (chat.example.org): no scheme, port or path"
                }
                r.integer(&o, "web.pingIntervalSeconds", into: &config.web.pingIntervalSeconds, in: 1...86_400)
                r.integer(&o, "web.pingTimeoutSeconds", into: &config.web.pingTimeoutSeconds, in: 1...86_400)
                r.integer(&o, "web.requestTimeoutSeconds", into: &config.web.requestTimeoutSeconds, in: 1...3_600)
            }
            r.string(&o, "stateDirectory", into: &config.stateDirectory, check: Rule.stateDirectory)
            r.section(&o, "metrics") { r, o in
                r.addresses(&o, "metrics.listen", into: &config.metrics.listen, allowEmpty: true)
            }
            r.section(&o, "accounts") { r, o in
                r.integer(&o, "accounts.scryptCost", into: &config.accounts.scryptCost, in: 10...20)
                r.integer(&o, "accounts.graceSeconds", into: &config.accounts.graceSeconds, in: 1...86_400)
                r.bool(&o, "accounts.required", into: &config.accounts.required)
            }
            r.section(&o, "irc") { r, o in
                r.addresses(&o, "irc.listen", into: &config.irc.listen, allowEmpty: true)
                r.addresses(&o, "irc.tlsListen", into: &config.irc.tlsListen, allowEmpty: true)
                let hostLike: (String) -> String? = {
                    Config.IRC.isValidName($0)
                        ? nil : "must be a host-like name: letters, digits, dots, hyphens and underscores, at most 63 bytes"
                }
                r.string(&o, "irc.serverName", into: &config.irc.serverName, check: hostLike)
                r.string(&o, "irc.network", into: &config.irc.network, check: hostLike)
                r.integer(&o, "irc.pingIntervalSeconds", into: &config.irc.pingIntervalSeconds, in: 0...86_400)
                r.integer(&o, "irc.pingTimeoutSeconds", into: &config.irc.pingTimeoutSeconds, in: 1...86_400)
            }
            r.section(&o, "proxy") { r, o in
                r.stringArray(&o, "proxy.trusted", into: &config.proxy.trusted) { entry in
                    AddressPattern(entry) == nil ? "must be an IP address or a CIDR block (10.0.0.0/8, 2001:db8::/32)" : nil
                }
            }
            r.section(&o, "tls") { r, o in
                r.addresses(&o, "tls.listen", into: &config.tls.listen, allowEmpty: true)
                r.string(&o, "tls.certificate", into: &config.tls.certificate, check: Rule.filePath)
                r.string(&o, "tls.key", into: &config.tls.key, check: Rule.filePath)
            }
            r.section(&o, "history") { r, o in
                r.bool(&o, "history.enabled", into: &config.history.enabled)
                r.string(&o, "history.path", into: &config.history.path, check: Rule.stateDirectory)
                r.integer(&o, "history.flushIntervalMs", into: &config.history.flushIntervalMs, in: 1...1_000)
                r.integer(&o, "history.replayLines", into: &config.history.replayLines, in: 0...1_000)
                r.integer(&o, "history.maxAgeDays", into: &config.history.maxAgeDays, in: 0...36_500)
                r.integer(&o, "history.maxMessagesPerRoom", into: &config.history.maxMessagesPerRoom, in: 0...1_000_000_000)
            }
            r.section(&o, "limits") { r, o in
                r.integer(&o, "limits.maxLineBytes", into: &config.limits.maxLineBytes, in: 64...1_048_576)
                r.integer(&o, "limits.maxNickLength", into: &config.limits.maxNickLength, in: 1...64)
                r.integer(&o, "limits.maxRoomNameLength", into: &config.limits.maxRoomNameLength, in: 1...200)
                r.integer(&o, "limits.maxRoomsPerClient", into: &config.limits.maxRoomsPerClient, in: 1...10_000)
                r.integer(&o, "limits.sendQueueBytes", into: &config.limits.sendQueueBytes, in: 4096...1_073_741_824)
                r.integer(&o, "limits.maxOverlongLines", into: &config.limits.maxOverlongLines, in: 1...1_000_000)
                r.number(&o, "limits.floodRate", into: &config.limits.floodRate, in: 0.01...1_000_000)
                r.integer(&o, "limits.floodBurst", into: &config.limits.floodBurst, in: 1...1_000_000)
                r.integer(&o, "limits.floodQueueLines", into: &config.limits.floodQueueLines, in: 0...1_000_000)
                r.integer(&o, "limits.maxClients", into: &config.limits.maxClients, in: 1...10_000_000)
                r.integer(&o, "limits.maxClientsPerAddress", into: &config.limits.maxClientsPerAddress, in: 1...10_000_000)
                r.integer(&o, "limits.connectsPerAddressPerMinute", into: &config.limits.connectsPerAddressPerMinute, in: 1...100_000_000)
                r.integer(&o, "limits.connectBurstPerAddress", into: &config.limits.connectBurstPerAddress, in: 1...10_000_000)
                r.integer(&o, "limits.nickTimeoutSeconds", into: &config.limits.nickTimeoutSeconds, in: 1...86_400)
                r.integer(&o, "limits.maxAnnouncedRoomSize", into: &config.limits.maxAnnouncedRoomSize, in: 0...10_000_000)
                r.integer(&o, "limits.parkIdleSeconds", into: &config.limits.parkIdleSeconds, in: 0...86_400)
            }
        }
        if reader.issues.isEmpty {
            // Cross-key rules, checked once every key parsed.
            if config.web.enabled, let shared = config.web.listen.first(where: config.listen.contains) {
                reader.fail("web.listen", "\(shared) is also a chat address (listen); the web client needs a port of its own")
            }
            for (key, addresses) in [("irc.listen", config.irc.listen), ("irc.tlsListen", config.irc.tlsListen)] {
                let others =
                    config.listen + config.tls.listen + (config.web.enabled ? config.web.listen + config.web.tlsListen : [])
                    + (key == "irc.listen" ? config.irc.tlsListen : config.irc.listen)
                if let shared = addresses.first(where: others.contains) {
                    reader.fail(key, "\(shared) is also another listener's address; an IRC listener needs a port of its own")
                }
            }
            if let shared = config.tls.listen.first(where: {
                config.listen.contains($0) || (config.web.enabled && config.web.listen.contains($0))
            }) {
                reader.fail("tls.listen", "\(shared) is also a chat or web address; a TLS listener needs a port of its own")
            }
            if config.web.enabled && config.web.listen.isEmpty && config.web.tlsListen.isEmpty {
                reader.fail(
                    "web.listen",
                    "is empty, and so is web.tlsListen: name an address to serve the web client on, or set web.enabled to false")
            }
            if config.web.enabled,
                let shared = config.web.tlsListen.first(where: {
                    config.listen.contains($0) || config.web.listen.contains($0) || config.tls.listen.contains($0)
                })
            {
                reader.fail(
                    "web.tlsListen", "\(shared) is also another listener's address; the web client over TLS needs a port of its own")
            }
            if config.needsTLS {
                let why = !config.tls.listen.isEmpty ? "tls.listen" : !config.irc.tlsListen.isEmpty ? "irc.tlsListen" : "web.tlsListen"
                if config.tls.certificate.isEmpty {
                    reader.fail("tls.certificate", "is needed for \(why): the PEM certificate chain to present")
                }
                if config.tls.key.isEmpty { reader.fail("tls.key", "is needed for \(why): the certificate's PEM private key") }
            }
            if case .failure(let error) = RoomName.validate(config.server.defaultRoom, maxLength: config.limits.maxRoomNameLength) {
                reader.fail("server.defaultRoom", error.description + " (see limits.maxRoomNameLength)")
            }
        }
        return reader.issues.isEmpty ? .success(config) : .failure(ConfigError(reader.issues))
    }
}

/// Walks a JSON document, reading known keys and collecting every issue on the way.
struct ConfigReader {
    var issues: [ConfigIssue] = []

    mutating func fail(_ path: String, _ message: String) {
        issues.append(ConfigIssue(path: path, message: message))
    }

    /// Reads `value` as an object whose known keys are the ones `body` asks for; any other key
    /// is reported as unknown, with the closest known key as a suggestion.
    mutating func object(_ value: JSONValue, path: String, _ body: (inout ConfigReader, inout KeyTracker) -> Void) {
        guard case .object(let object) = value else {
            fail(path, "expected an object, got \(value.typeName)")
            return
        }
        var tracker = KeyTracker(object: object)
        body(&self, &tracker)
        for key in object.keys where !tracker.known.contains(key) {
            let full = path.isEmpty ? key : "\(path).\(key)"
            let hint = Self.closest(to: key, among: tracker.known).map { " (did you mean \"\($0)\"?)" } ?? ""
            fail(full, "unknown key\(hint)")
        }
    }

    mutating func section(_ parent: inout KeyTracker, _ key: String, _ body: (inout ConfigReader, inout KeyTracker) -> Void) {
        // Sections are top-level keys, so the key is the path.
        guard let value = parent.take(key) else { return }
        object(value, path: key, body)
    }

    mutating func value(_ o: inout KeyTracker, _ path: String, _ body: (inout ConfigReader, JSONValue, String) -> Void) {
        guard let value = o.take(Self.lastComponent(path)) else { return }
        body(&self, value, path)
    }

    mutating func string(_ o: inout KeyTracker, _ path: String, into target: inout String, check: (String) -> String? = { _ in nil }) {
        guard let value = o.take(Self.lastComponent(path)) else { return }
        guard case .string(let s) = value else { return fail(path, "expected a string, got \(value.typeName)") }
        if let problem = check(s) { return fail(path, problem) }
        target = s
    }

    /// An array of distinct `HOST:PORT` strings, non-empty unless `allowEmpty`.
    mutating func addresses(_ o: inout KeyTracker, _ path: String, into target: inout [HostAndPort], allowEmpty: Bool = false) {
        guard let value = o.take(Self.lastComponent(path)) else { return }
        guard case .array(let entries) = value else {
            return fail(path, "expected an array of \"HOST:PORT\" strings, got \(value.typeName)")
        }
        if entries.isEmpty && !allowEmpty { fail(path, "must list at least one address") }
        var addresses: [HostAndPort] = []
        for (i, entry) in entries.enumerated() {
            guard case .string(let text) = entry else {
                fail("\(path)[\(i)]", "expected a \"HOST:PORT\" string, got \(entry.typeName)")
                continue
            }
            switch HostAndPort.parse(text, .listen) {
            case .success(let address):
                if addresses.contains(address) { fail("\(path)[\(i)]", "\(address) is listed twice") }
                addresses.append(address)
            case .failure(let error): fail("\(path)[\(i)]", error.description)
            }
        }
        target = addresses
    }

    mutating func stringArray(
        _ o: inout KeyTracker, _ path: String, into target: inout [String], check: (String) -> String? = { _ in nil }
    ) {
        guard let value = o.take(Self.lastComponent(path)) else { return }
        guard case .array(let elements) = value else {
            return fail(path, "expected an array of strings, got \(value.typeName)")
        }
        var strings: [String] = []
        for (i, element) in elements.enumerated() {
            guard case .string(let s) = element else {
                fail("\(path)[\(i)]", "expected a string, got \(element.typeName)")
                continue
            }
            if let problem = check(s) { fail("\(path)[\(i)]", problem) }
            strings.append(s)
        }
        target = strings
    }

    mutating func integer(_ o: inout KeyTracker, _ path: String, into target: inout Int, in range: ClosedRange<Int>) {
        guard let value = o.take(Self.lastComponent(path)) else { return }
        guard case .integer(let i) = value else {
            return fail(path, "expected a whole number, got \(value.typeName == "a number" ? "a fraction" : value.typeName)")
        }
        guard i >= range.lowerBound && i <= range.upperBound else {
            return fail(path, "must be from \(range.lowerBound) to \(range.upperBound), got \(i)")
        }
        target = Int(i)
    }

    mutating func number(_ o: inout KeyTracker, _ path: String, into target: inout Double, in range: ClosedRange<Double>) {
        guard let value = o.take(Self.lastComponent(path)) else { return }
        let number: Double
        switch value {
        case .integer(let i): number = Double(i)
        case .double(let d): number = d
        default: return fail(path, "expected a number, got \(value.typeName)")
        }
        guard range.contains(number) else {
            return fail(path, "must be from \(range.lowerBound) to \(range.upperBound), got \(number)")
        }
        target = number
    }

    mutating func bool(_ o: inout KeyTracker, _ path: String, into target: inout Bool) {
        guard let value = o.take(Self.lastComponent(path)) else { return }
        guard case .bool(let b) = value else { return fail(path, "expected true or false, got \(value.typeName)") }
        target = b
    }

    static func lastComponent(_ path: String) -> String {
        String(path.split(separator: ".").last ?? Substring(path))
    }

    /// The known key within edit distance 2 of `key`, if one is that close.
    static func closest(to key: String, among known: [String]) -> String? {
        let scored = known.map { ($0, distance(Array(key.lowercased()), Array($0.lowercased()))) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= 2 else { return nil }
        return best.0
    }

    static func distance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in stride(from: 1, through: b.count, by: 1) {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}

/// The keys of one object that the reader asked for, so the rest can be reported as unknown.
struct KeyTracker {
    let object: JSONObject
    var known: [String] = []

    init(object: JSONObject) { self.object = object }

    mutating func take(_ key: String) -> JSONValue? {
        known.append(key)
        return object[key]
    }
}
