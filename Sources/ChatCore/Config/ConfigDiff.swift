extension Config {
    /// `server.defaultRoom` as a room name. `Config.parse` refuses a config where it is invalid,
    /// so a parsed (or default) config always has one.
    public var defaultRoomName: RoomName {
        switch RoomName.validate(server.defaultRoom, maxLength: limits.maxRoomNameLength) {
        case .success(let room): return room
        case .failure(let error): preconditionFailure("server.defaultRoom passed validation but is invalid: \(error)")
        }
    }

    /// Keys whose new value only takes effect after a restart: they shape sockets and threads
    /// that exist from start-up.
    public static let restartKeys: Set<String> = [
        "listen", "eventLoops", "admin.socket", "stateDirectory", "web.enabled", "web.listen", "history.enabled", "history.path",
        "history.flushIntervalMs", "history.replayLines", "history.maxAgeDays", "history.maxMessagesPerRoom", "tls.listen",
        "web.tlsListen", "metrics.listen", "irc.listen", "irc.tlsListen", "accounts.scryptCost",
    ]

    /// Every key with its value, flattened to `path = value` (for diffs and logs).
    public var flattened: [String: String] {
        func list(_ values: [String]) -> String { JSONValue.array(values.map(JSONValue.string)).jsonText }
        return [
            "server.name": server.name, "server.motd": list(server.motd), "server.defaultRoom": server.defaultRoom,
            "listen": list(listen.map(\.description)), "eventLoops": String(eventLoops),
            "shutdownTimeoutSeconds": String(shutdownTimeoutSeconds), "logging.level": logging.level,
            "logging.logMessages": String(logging.logMessages), "admin.socket": admin.socket, "admin.group": admin.group,
            "stateDirectory": stateDirectory, "history.enabled": String(history.enabled), "history.path": history.path,
            "history.flushIntervalMs": String(history.flushIntervalMs), "history.replayLines": String(history.replayLines),
            "history.maxAgeDays": String(history.maxAgeDays), "history.maxMessagesPerRoom": String(history.maxMessagesPerRoom),
            "proxy.trusted": list(proxy.trusted), "metrics.listen": list(metrics.listen.map(\.description)),
            "irc.listen": list(irc.listen.map(\.description)), "irc.tlsListen": list(irc.tlsListen.map(\.description)),
            "irc.serverName": irc.serverName, "irc.network": irc.network, "accounts.scryptCost": String(accounts.scryptCost),
            "accounts.graceSeconds": String(accounts.graceSeconds), "accounts.required": String(accounts.required),
            "irc.pingIntervalSeconds": String(irc.pingIntervalSeconds), "irc.pingTimeoutSeconds": String(irc.pingTimeoutSeconds),
            "tls.listen": list(tls.listen.map(\.description)), "tls.certificate": tls.certificate,
            "tls.key": tls.key,
            "web.enabled": String(web.enabled),
            "web.listen": list(web.listen.map(\.description)), "web.tlsListen": list(web.tlsListen.map(\.description)),
            "web.allowedOrigins": list(web.allowedOrigins), "web.allowedHosts": list(web.allowedHosts),
            "web.pingIntervalSeconds": String(web.pingIntervalSeconds),
            "web.pingTimeoutSeconds": String(web.pingTimeoutSeconds), "web.requestTimeoutSeconds": String(web.requestTimeoutSeconds),
            "limits.maxLineBytes": String(limits.maxLineBytes),
            "limits.maxNickLength": String(limits.maxNickLength), "limits.maxRoomNameLength": String(limits.maxRoomNameLength),
            "limits.maxRoomsPerClient": String(limits.maxRoomsPerClient), "limits.sendQueueBytes": String(limits.sendQueueBytes),
            "limits.maxOverlongLines": String(limits.maxOverlongLines), "limits.floodRate": String(limits.floodRate),
            "limits.floodBurst": String(limits.floodBurst), "limits.floodQueueLines": String(limits.floodQueueLines),
            "limits.maxClients": String(limits.maxClients), "limits.maxClientsPerAddress": String(limits.maxClientsPerAddress),
            "limits.connectsPerAddressPerMinute": String(limits.connectsPerAddressPerMinute),
            "limits.connectBurstPerAddress": String(limits.connectBurstPerAddress),
            "limits.nickTimeoutSeconds": String(limits.nickTimeoutSeconds),
            "limits.maxAnnouncedRoomSize": String(limits.maxAnnouncedRoomSize),
            "limits.parkIdleSeconds": String(limits.parkIdleSeconds),
        ]
    }

    /// The keys whose values differ from `other`, sorted.
    public func changedKeys(from other: Config) -> [String] {
        let mine = flattened
        let theirs = other.flattened
        return mine.keys.filter { mine[$0] != theirs[$0] }.sorted()
    }
}
