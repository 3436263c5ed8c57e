import ChatCore
import ChatStore
import FoundationEssentials
import Logging
import NIOCore
import Synchronization

/// Carries out admin commands against the running daemon. Shared by the admin socket's
/// connections; every method is safe from any task.
final class DaemonControl: Sendable {
    let hub: Hub
    let reloader: Reloader
    private let bans: BanStore
    private let requestShutdown: @Sendable () -> Void
    private let logger: Logger
    /// While draining with a deadline: the task that stops the daemon when the time is up or the
    /// last client has gone.
    private let drainWatcher = Mutex<Task<Void, Never>?>(nil)

    init(hub: Hub, reloader: Reloader, bans: BanStore, logger: Logger, requestShutdown: @escaping @Sendable () -> Void) {
        self.hub = hub
        self.reloader = reloader
        self.bans = bans
        self.logger = logger
        self.requestShutdown = requestShutdown
    }

    func execute(_ command: AdminCommand) async -> Result<JSONValue, AdminFailure> {
        let now = hub.now
        switch command {
        case .who:
            let clients = hub.withDirectory { $0.clientInfos(at: now) }
            return .success(.object(JSONObject([("clients", .array(clients.map(\.json)))])))

        case .rooms:
            let rooms = hub.withDirectory { $0.roomInfos }
            return .success(.object(JSONObject([("rooms", .array(rooms.map(\.json)))])))

        case .stats:
            return .success(await stats().json)

        case .backup(let path):
            guard path.hasPrefix("/"), !path.contains("\0") else {
                return .failure(AdminFailure(.badRequest, "The backup path must be absolute (chatd writes it, from its own directory)."))
            }
            guard !FileManager.default.fileExists(atPath: path) else {
                return .failure(AdminFailure(.badRequest, "\(path) exists already: name a new file."))
            }
            guard let history = hub.history else {
                return .failure(AdminFailure(.historyOff, "History is \(hub.historyState)."))
            }
            do {
                // What was relayed up to now is in the copy.
                try await history.withStore { try await $0.backup(to: path) }
            } catch {
                return .failure(AdminFailure(.internalError, "The backup to \(path) failed: \(error)"))
            }
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            logger.notice("history backed up", metadata: ["path": "\(path)", "bytes": "\(size)"])
            return .success(.object(JSONObject([("path", .string(path)), ("bytes", .integer(Int64(size)))])))

        case .history(let rawRoom, let limit):
            guard case .success(let room) = RoomName.validate(rawRoom, maxLength: 200) else {
                return .failure(AdminFailure(.noSuchRoom, "\(Sanitizer.cleanArgument(rawRoom)) is not a room name."))
            }
            guard let history = hub.history else {
                return .failure(AdminFailure(.historyOff, "History is \(hub.historyState)."))
            }
            do {
                // With what was relayed up to now, not yet written.
                let lines = try await history.withStore {
                    try await $0.lines(roomKey: room.key, before: nil, limit: min(limit ?? 50, 10_000))
                }
                return .success(.object(JSONObject([("room", .string(room.display)), ("lines", .array(lines.map(\.json)))])))
            } catch {
                return .failure(AdminFailure(.internalError, "The history store failed: \(error)"))
            }

        case .purge(let rawRoom, let rawNick, let rawBefore, let event):
            var purge = HistoryPurge(id: event.map { UInt64($0) })
            if let rawRoom {
                guard case .success(let room) = RoomName.validate(rawRoom, maxLength: 200) else {
                    return .failure(AdminFailure(.badRequest, "\(Sanitizer.cleanArgument(rawRoom)) is not a room name."))
                }
                purge.roomKey = room.key
            }
            if let rawNick {
                let nick = Sanitizer.cleanArgument(rawNick)
                guard !nick.isEmpty else { return .failure(AdminFailure(.badRequest, "The nick to purge is empty.")) }
                purge.nickKey = HistoryPurge.key(ofSender: nick)
            }
            if let rawBefore {
                guard let before = Timestamp(date: rawBefore) else {
                    return .failure(
                        AdminFailure(
                            .badRequest,
                            "\(Sanitizer.cleanArgument(rawBefore)) is not a date: write it in UTC as 2026-11-21, 2026-11-21T18:30 or 2026-11-21T18:30:00Z."
                        ))
                }
                purge.before = before
            }
            guard purge.isNarrowed else {
                return .failure(AdminFailure(.badRequest, "Say what to purge: a room, a nick, a date to purge before, or an event id."))
            }
            switch await hub.purge(purge) {
            case .success(let removed):
                logger.notice(
                    "history purged",
                    metadata: [
                        "room": "\(rawRoom ?? "*")", "nick": "\(rawNick ?? "*")", "before": "\(rawBefore ?? "*")",
                        "event": "\(event.map(String.init) ?? "*")", "removed": "\(removed)",
                    ])
                return .success(.object(JSONObject([("removed", .integer(Int64(removed)))])))
            case .failure(let problem) where hub.history == nil:
                return .failure(AdminFailure(.historyOff, "History is \(problem.reason)."))
            case .failure(let problem):
                return .failure(AdminFailure(.internalError, "The purge failed: \(problem.reason)."))
            }

        case .kick(let nick, let reason, let ban):
            let why = "Kicked by an operator" + (reason.map { ": \(Sanitizer.cleanArgument($0))" } ?? "")
            guard let ban else { return kick(nick, because: why).map { .object(JSONObject([("nick", .string($0))])) } }
            // Banning the address disconnects the client (and anyone else there) with the kick's
            // words, and keeps it out for `ban` seconds.
            guard let found = hub.withDirectory({ $0.session(named: nick) }) else {
                return .failure(AdminFailure(.noSuchNick, "There is nobody called \(Sanitizer.cleanArgument(nick)) connected."))
            }
            guard case .success(let peer) = HostAndPort.parse(found.address, .listen), AddressPattern(peer.host) != nil else {
                return .failure(AdminFailure(.invalidTarget, "\(found.nick)'s address (\(found.address)) cannot be banned."))
            }
            logger.notice("kicked", metadata: ["nick": "\(found.nick)", "reason": "\(why)"])
            return self.ban(peer.host, duration: ban, reason: reason.map(Sanitizer.cleanArgument), at: now, code: .kicked, goodbye: why).map
            {
                .object(JSONObject([("nick", .string(found.nick)), ("ban", $0["ban"] ?? .null)]))
            }

        case .say(let text, let room):
            let text = Sanitizer.clean(text)
            guard !text.isEmpty else { return .failure(AdminFailure(.badRequest, "Nothing to say.")) }
            return hub.attempt { $0.announce(text, room: room, at: $1) }.map { _ in
                logger.notice("announcement", metadata: ["room": "\(room ?? "everyone")"])
                return .object(JSONObject([("audience", .string(room ?? "everyone"))]))
            }

        case .mode(let room, let modes, let args):
            let arguments = (args ?? "").split(separator: " ").map { Sanitizer.cleanArgument(String($0)) }
            return hub.attempt { $0.operatorMode(room: room, modes: modes, arguments: arguments, at: $1) }.map { deliveries in
                var changes: [RoomModeChange] = []
                for case .event(let event, _) in deliveries { if case .modeChange(_, _, let made) = event.kind { changes = made } }
                let described = changes.isEmpty ? "" : RoomModeChange.describe(changes)
                if !changes.isEmpty { logger.notice("room modes changed", metadata: ["room": "\(room)", "modes": "\(described)"]) }
                return .object(JSONObject([("room", .string(room)), ("changes", .string(described))]))
            }

        case .account(let action, let name, let password):
            return await account(action, name: name, password: password, at: now)

        case .reload:
            switch reloader.reload() {
            case .success(let report):
                return .success(
                    .object(
                        JSONObject([
                            ("applied", .array(report.applied.map(JSONValue.string))),
                            ("restartRequired", .array(report.restartRequired.map(JSONValue.string))),
                        ])))
            case .failure(let error):
                return .failure(
                    AdminFailure(
                        .configInvalid, "The new configuration is invalid; the old one stays in force.",
                        details: error.issues.map(\.description)))
            }

        case .ban(let text, let duration, let reason):
            return ban(text, duration: duration, reason: reason.map(Sanitizer.cleanArgument), at: now)

        case .unban(let text):
            guard let target = Ban.target(text, maxNickLength: 64) else { return .failure(invalidTarget(text)) }
            let (lifted, list) = hub.withDirectory { ($0.bans.remove(target), $0.bans) }
            guard let lifted else { return .failure(AdminFailure(.notFound, "There is no ban on \(Sanitizer.cleanArgument(text)).")) }
            logger.notice("ban lifted", metadata: ["target": "\(lifted.targetText)"])
            return persist(list).map { .object(JSONObject([("ban", lifted.json)])) }

        case .bans:
            let (list, expired) = hub.withDirectory { directory in
                let expired = directory.bans.expire(at: now)
                return (directory.bans, expired)
            }
            if !expired.isEmpty { _ = persist(list) }
            return .success(.object(JSONObject([("bans", .array(list.bans.map(\.json)))])))

        case .drain(let message, let shutdownAfter):
            return drain(message: message.map(Sanitizer.cleanArgument), shutdownAfter: shutdownAfter)

        case .undrain:
            let wasDraining = hub.draining != nil
            hub.setDraining(nil)
            drainWatcher.withLock {
                $0?.cancel()
                $0 = nil
            }
            if wasDraining { logger.notice("drain ended: accepting clients again") }
            return .success(.object(JSONObject([("draining", .bool(false))])))
        }
    }

    // MARK: Commands

    /// `chatctl account list|show|drop|reset-password`.
    private func account(
        _ action: String, name rawName: String?, password: String?, at now: Timestamp
    ) async -> Result<
        JSONValue, AdminFailure
    > {
        guard let history = hub.history, let keeper = hub.accounts else {
            return .failure(AdminFailure(.historyOff, "Accounts are kept with history, which is \(hub.historyState)."))
        }
        func entry(_ account: AccountRecord) -> JSONValue {
            let signedIn = hub.withDirectory { $0.signedIn(to: account.name) }
            return .object(
                JSONObject([
                    ("name", .string(account.name)), ("createdAt", .string(account.createdAt.iso8601)),
                    ("signedIn", .array(signedIn.map(JSONValue.string))),
                ]))
        }
        do {
            if action == "list" {
                let accounts = try await history.withStore { try await $0.accountList() }
                return .success(.object(JSONObject([("accounts", .array(accounts.map(entry)))])))
            }
            guard ["show", "drop", "reset-password"].contains(action) else {
                return .failure(
                    AdminFailure(
                        .badRequest, "Unknown account action \"\(Sanitizer.cleanArgument(action))\": list, show, drop or reset-password."))
            }
            guard let rawName, case .success(let nick) = Nickname.validate(rawName, maxLength: 1000),
                let account = try await history.withStore({ try await $0.account(key: nick.key) })
            else {
                return .failure(AdminFailure(.notFound, "There is no account \(Sanitizer.cleanArgument(rawName ?? ""))."))
            }
            switch action {
            case "show":
                return .success(entry(account))
            case "drop":
                try await history.withStore { try await $0.dropAccount(key: account.key) }
                hub.perform { $0.operatorDroppedAccount(key: account.key, at: $1) }
                logger.notice("account dropped by an operator", metadata: ["account": "\(account.name)"])
                return .success(.object(JSONObject([("name", .string(account.name))])))
            default:
                let password = Password(password ?? "")
                if let problem = Password.problem(password.text) { return .failure(AdminFailure(.badRequest, problem)) }
                let hash = try await keeper.hash(password)
                try await history.withStore { try await $0.setPasswordHash(key: account.key, hash: hash) }
                logger.notice("account password reset by an operator", metadata: ["account": "\(account.name)"])
                return .success(.object(JSONObject([("name", .string(account.name))])))
            }
        } catch {
            return .failure(AdminFailure(.internalError, "The store failed: \(error)"))
        }
    }

    private func kick(_ nick: String, because reason: String, code: ByeCode = .kicked) -> Result<String, AdminFailure> {
        let found = hub.withDirectory { $0.session(named: nick) }
        guard let found else {
            return .failure(AdminFailure(.noSuchNick, "There is nobody called \(Sanitizer.cleanArgument(nick)) connected."))
        }
        hub.shards[found.shard].post(.close(found.id, CloseRequest(reason: reason, notify: true, code: code)))
        logger.notice("kicked", metadata: ["nick": "\(found.nick)", "reason": "\(reason)"])
        return .success(found.nick)
    }

    /// Bans `text` and disconnects whoever it covers, with `goodbye` (by default "Banned by an
    /// operator: reason") and `code`.
    private func ban(
        _ text: String, duration: Int?, reason: String?, at now: Timestamp, code: ByeCode = .banned, goodbye: String? = nil
    ) -> Result<JSONValue, AdminFailure> {
        guard let target = Ban.target(text, maxNickLength: 64) else { return .failure(invalidTarget(text)) }
        let expiry = duration.map { Timestamp(milliseconds: now.milliseconds + Int64($0) * 1000) }
        let ban = Ban(target: target, reason: reason, createdAt: now, expiresAt: expiry)
        let list = hub.withDirectory { directory in
            directory.bans.add(ban)
            return directory.bans
        }
        logger.notice("banned", metadata: ["target": "\(ban.targetText)", "reason": "\(reason ?? "")"])
        // Whoever the ban covers leaves now.
        let goodbye = goodbye ?? "Banned by an operator" + (reason.map { ": \($0)" } ?? "")
        var result = JSONObject([("ban", ban.json)])
        switch target {
        case .nick(_, let display):
            if case .success(let nick) = kick(display, because: goodbye, code: code) { result.append("disconnected", .string(nick)) }
        case .address(let pattern):
            for shard in hub.shards { shard.post(.closeMatching(pattern, CloseRequest(reason: goodbye, notify: true, code: code))) }
        }
        return persist(list).map { .object(result) }
    }

    private func drain(message: String?, shutdownAfter: Int?) -> Result<JSONValue, AdminFailure> {
        let message = message ?? "The server is closed for maintenance; please try again later."
        hub.setDraining(message)
        logger.notice("draining: new clients are refused", metadata: ["shutdownAfter": "\(shutdownAfter.map(String.init) ?? "never")"])
        var result = JSONObject([("draining", .bool(true)), ("message", .string(message))])
        if let seconds = shutdownAfter {
            result.append("shutdownAfter", .integer(Int64(seconds)))
            let warning = "The server will shut down within \(seconds) seconds: \(message)"
            _ = hub.attempt { directory, now -> Result<[Delivery], AdminFailure> in directory.announce(warning, room: nil, at: now) }
            let watcher = Task { [hub, logger, requestShutdown] in
                let deadline = ContinuousClock.now.advanced(by: .seconds(seconds))
                while ContinuousClock.now < deadline {
                    if await Self.connectionCount(hub) == 0 {
                        logger.notice("drained: the last client has left")
                        break
                    }
                    try? await Task.sleep(for: .milliseconds(250))
                    if Task.isCancelled { return }
                }
                requestShutdown()
            }
            drainWatcher.withLock {
                $0?.cancel()
                $0 = watcher
            }
        }
        return .success(.object(result))
    }

    private func persist(_ list: BanList) -> Result<Void, AdminFailure> {
        do {
            try bans.save(list)
            return .success(())
        } catch {
            logger.error("cannot save the ban list", metadata: ["path": "\(bans.path)", "error": "\(error)"])
            return .failure(
                AdminFailure(.internalError, "The change is in force until chatd restarts, but it could not be saved: \(error)."))
        }
    }

    private func invalidTarget(_ text: String) -> AdminFailure {
        AdminFailure(
            .invalidTarget,
            "\(Sanitizer.cleanArgument(text)) is not a valid nickname, an address (like 203.0.113.7) or a CIDR block (like 198.51.100.0/24)."
        )
    }

    // MARK: Stats

    func stats() async -> ServerStats {
        await statsAndCounters().stats
    }

    /// The stats, and the loops' counters they were made from (the metrics label some of them).
    func statsAndCounters() async -> (stats: ServerStats, counters: ShardCounters) {
        var counters = ShardCounters()
        for shard in hub.shards {
            if let snapshot = try? await shard.snapshot().get() { counters = counters + snapshot }
        }
        let now = hub.now
        var stats = ServerStats()
        stats.uptimeSeconds = Int((now.milliseconds - hub.startedAt.milliseconds) / 1000)
        hub.withDirectory { directory in
            stats.clients = directory.clients.count
            stats.peakClients = directory.peakClients
            stats.rooms = directory.rooms.count
            stats.messages = Int(directory.messagesRelayed)
        }
        stats.connections = counters.connections
        stats.parked = counters.parked
        stats.bytesIn = counters.bytesIn
        stats.bytesOut = counters.bytesOut
        stats.delivered = counters.linesOut
        stats.accepted = counters.accepted
        stats.refused = counters.refused
        stats.draining = hub.draining != nil
        stats.history = hub.historyState
        stats.historyWritten = hub.history?.written ?? 0
        stats.historyDropped = hub.history?.dropped ?? 0
        stats.registrations = counters.registrations
        for (listener, count) in counters.open where count > 0 { stats.listeners[listener.name] = count }
        for (cause, count) in counters.disconnects { stats.disconnects[cause.rawValue] = count }
        return (stats, counters)
    }

    static func connectionCount(_ hub: Hub) async -> Int {
        var total = 0
        for shard in hub.shards { total += (try? await shard.snapshot().get().connections) ?? 0 }
        return total
    }
}
