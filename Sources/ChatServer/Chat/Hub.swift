import ChatCore
import ChatStore
import Glibc
import NIOCore
import NIOPosix
import Prometheus
import Synchronization

/// The server's shared chat state: the one `Directory`, behind one lock, and the shards it
/// routes to.
///
/// Every transition runs the pure `Directory` step and routes its deliveries to the shards'
/// mailboxes *before* the lock is released: that single order is the order every loop applies,
/// so all members of a room see its events in the same sequence. Routing only encodes and
/// appends to mailboxes; no socket I/O happens under the lock.
final class Hub: Sendable {
    let shards: [Shard]
    let startedAt: Timestamp
    private let directory: Mutex<Directory>
    private let nextSessionID = Atomic<UInt64>(0)
    private let clock: @Sendable () -> Timestamp
    /// What new connections are set up with; replaced on reload.
    private let liveSettings: Mutex<ConnectionSettings>
    /// Bumped on every reload, so a connection notices with one atomic load per read.
    private let settingsGeneration = Atomic<Int>(0)
    /// While draining, the message new connections are refused with.
    private let drainMessage = Mutex<String?>(nil)
    /// Set when chatd begins to stop (for /healthz).
    let stopping = Atomic<Bool>(false)
    private let webPortValue = Mutex<WebPort?>(nil)
    /// Connection limits, total and per address, and the per-address connect rate.
    private let admissionControl: Mutex<Admission>
    /// Refusals logged recently, by reason, so a connection flood does not flood the log.
    let refusalLog = LogThrottle(interval: 10)
    /// Where room lines go to be kept (nil with history off).
    let history: HistoryWriter?
    /// Why history could not be opened at start, if it could not.
    let historyProblem: String?
    /// Account work off the lock (nil with history off: accounts live in its store).
    let accounts: AccountKeeper?

    init(
        shards: [Shard], settings: ConnectionSettings, defaultRoom: RoomName, history: HistoryWriter? = nil,
        historyProblem: String? = nil, scryptCost: Int = 15, clock: @escaping @Sendable () -> Timestamp = Timestamp.now
    ) {
        self.shards = shards
        self.history = history
        self.accounts = history.map { AccountKeeper(history: $0, cost: scryptCost) }
        self.historyProblem = historyProblem
        self.clock = clock
        self.startedAt = clock()
        self.liveSettings = Mutex(settings)
        self.admissionControl = Mutex(Admission(limits: settings.limits))
        var directory = Directory(limits: settings.limits, defaultRoom: defaultRoom, shardCount: shards.count)
        directory.accountGraceSeconds = settings.accounts.graceSeconds
        directory.accountsRequired = settings.accounts.required
        self.directory = Mutex(directory)
    }

    /// The hub for `config`, with one shard per loop of `group` (each timing its mailbox in
    /// `metrics`, when given).
    convenience init(
        config: Config, group: MultiThreadedEventLoopGroup, history: HistoryWriter?, historyProblem: String?,
        metrics: PrometheusCollectorRegistry? = nil
    ) {
        let shards = group.makeIterator().enumerated().map { index, loop in
            Shard(index: index, eventLoop: loop, drainLatency: metrics.map { ChatMetrics.drainLatency(in: $0, loop: index) })
        }
        self.init(
            shards: shards, settings: ConnectionSettings(config), defaultRoom: config.defaultRoomName, history: history,
            historyProblem: historyProblem, scryptCost: config.accounts.scryptCost)
    }

    var now: Timestamp { clock() }

    // MARK: Live settings

    /// The current settings and their generation.
    var settings: (ConnectionSettings, generation: Int) {
        liveSettings.withLock { ($0, settingsGeneration.load(ordering: .relaxed)) }
    }

    var generation: Int { settingsGeneration.load(ordering: .relaxed) }

    /// Applies reloaded settings: to every check the directory makes from now on, and to each
    /// connection at its next read.
    func update(_ settings: ConnectionSettings, defaultRoom: RoomName) {
        directory.withLock {
            $0.limits = settings.limits
            $0.defaultRoom = defaultRoom
            $0.accountGraceSeconds = settings.accounts.graceSeconds
            $0.accountsRequired = settings.accounts.required
        }
        admissionControl.withLock { $0.limits = settings.limits }
        liveSettings.withLock {
            $0 = settings
            settingsGeneration.add(1, ordering: .relaxed)
        }
    }

    // MARK: Admission

    /// Why a new connection from `address` must be refused, if it must. An admitted connection
    /// counts against the limits until `release(address)`.
    func admit(address: [UInt8]?) -> (reason: Refusal, message: String)? {
        if let barred = barred(address: address) { return barred }
        guard let address else { return nil }
        let monotonic = Self.monotonicNow
        return admissionControl.withLock { admission in
            admission.admit(address, now: monotonic).map { ($0, $0.message(admission.limits)) }
        }
    }

    /// Why anything from `address` must be refused now, if it must: chatd is draining, or the
    /// address is banned. (`admit` asks this first; a web request through an HTTP proxy asks
    /// only this, since it is not a connection of its own.)
    func barred(address: [UInt8]?) -> (reason: Refusal, message: String)? {
        if let message = drainMessage.withLock({ $0 }) { return (.draining, message) }
        guard let address else { return nil }
        let now = clock()
        if let ban = directory.withLock({ $0.bans.matching(address: address, at: now) }) { return (.banned, ban.refusal) }
        return nil
    }

    /// An admitted connection from `address` closed.
    func release(address: [UInt8]) {
        let now = Self.monotonicNow
        admissionControl.withLock { $0.release(address, now: now) }
    }

    /// Forgets idle per-address entries (called now and then).
    func pruneAdmission() {
        let now = Self.monotonicNow
        admissionControl.withLock { $0.prune(now: now) }
    }

    static var monotonicNow: Int64 { Int64(NIODeadline.now().uptimeNanoseconds) }

    var draining: String? { drainMessage.withLock { $0 } }

    /// History as `chatctl stats` and systemd's STATUS= say it: `on`, `off`, or `degraded: why`.
    var historyState: String {
        if let problem = historyProblem { return "degraded: \(problem)" }
        guard let history else { return "off" }
        switch history.state {
        case .healthy: return "on"
        case .degraded(let reason): return "degraded: \(reason)"
        }
    }

    /// The web client's port once it listens, named to a browser that reaches the chat port.
    var webPort: WebPort? {
        get { webPortValue.withLock { $0 } }
        set { webPortValue.withLock { $0 = newValue } }
    }

    func setDraining(_ message: String?) { drainMessage.withLock { $0 = message } }

    /// Runs `body` on the directory under the lock (for the admin plane's reads and edits that
    /// produce no deliveries).
    func withDirectory<T>(_ body: (inout Directory) -> T) -> T {
        directory.withLock { body(&$0) }
    }

    func makeSessionID() -> SessionID {
        SessionID(nextSessionID.add(1, ordering: .relaxed).newValue)
    }

    func shard(for eventLoop: any EventLoop) -> Shard {
        shards.first { $0.eventLoop === eventLoop } ?? shards[0]
    }

    /// An event for one connection that involves no shared state (greeting, errors, help).
    func event(_ kind: Event.Kind, re: RequestID? = nil) -> Event {
        let now = clock()
        return directory.withLock { $0.event(kind, at: now, re: re) }
    }

    /// Runs a directory transition and routes what it produces. Returns the deliveries, so the
    /// caller can log what happened after the lock is released. What goes to `requester` is a
    /// reply to it (backpressure, not its send queue).
    @discardableResult
    func perform(for requester: SessionID? = nil, _ transition: (inout Directory, Timestamp) -> [Delivery]) -> [Delivery] {
        let now = clock()
        let deliveries = directory.withLock { directory in
            let deliveries = transition(&directory, now)
            route(deliveries, directory, requester: requester)
            // Queued in the directory's order, so a purge is exact: everything before it goes.
            if let history { keep(deliveries, in: history) }
            return deliveries
        }
        for case .readHistory(let query) in deliveries { read(query) }
        for case .account(let task) in deliveries { account(task) }
        return deliveries
    }

    /// Checks credentials for a connection not registered yet (IRC's SASL): within the same
    /// limits as `/login`, and counted against them. The account's name, or nil (unknown,
    /// wrong, limited, or no store: one answer for all, as SASL gives one).
    func verifyCredentials(account rawName: String, password: Password, address: String) async -> String? {
        guard let accounts, case .success(let nick) = Nickname.validate(rawName, maxLength: 1000) else { return nil }
        let now = clock()
        let key: String? = directory.withLock { directory in
            guard let name = directory.account(for: nick), case .success(let account) = Nickname.validate(name, maxLength: 1000),
                directory.signIns.waitSeconds(account: account.key, address: address, at: now) == nil
            else { return nil }
            return account.key
        }
        guard let key else { return nil }
        let task = AccountTask(session: SessionID(0), key: key, kind: .verify(password: password, then: .signIn), address: address)
        switch await accounts.run(task, now: now) {
        case .done(let name):
            directory.withLock { $0.signIns.succeed(account: key) }
            return name
        case .wrongPassword:
            directory.withLock { $0.signIns.fail(account: key, address: address, at: self.clock()) }
            return nil
        default:
            return nil
        }
    }

    /// Renames those past their sign-in deadline (`Directory.protectNicks`); about once a second.
    func protectNicks() {
        perform { $0.protectNicks(at: $1) }
    }

    /// Does a client's account work (hashing, the store) on a task of its own, and answers
    /// through the directory.
    private func account(_ task: AccountTask) {
        guard let accounts else {
            perform(for: task.session) { $0.accountDone(task, .unavailable("history is off"), at: $1) }
            return
        }
        Task {
            let outcome = await accounts.run(task, now: self.clock())
            self.perform(for: task.session) { $0.accountDone(task, outcome, at: $1) }
        }
    }

    /// Reads a client's `/history` from the store on a task of its own (never on an event loop
    /// or under the lock), after writing what is waiting, and answers through the directory.
    private func read(_ query: HistoryQuery) {
        guard let history else {
            let problem = HistoryUnavailable(historyState)
            perform(for: query.session) { $0.answer(query, lines: .failure(problem), at: $1) }
            return
        }
        Task {
            let lines: Result<[HistoryRecord], HistoryUnavailable>
            do {
                lines = .success(
                    try await history.withStore {
                        try await $0.lines(roomKey: query.roomKey, after: query.after, before: query.before, limit: query.limit)
                    })
            } catch {
                lines = .failure(HistoryUnavailable("the store failed (\(error))"))
            }
            self.perform(for: query.session) { $0.answer(query, lines: lines, at: $1) }
        }
    }

    /// Hands the room lines and topic changes among `deliveries` to the history writer (under
    /// the lock, so in the directory's order: it only appends them to its queue; its task
    /// writes them).
    private func keep(_ deliveries: [Delivery], in history: HistoryWriter) {
        for case .event(let event, .room(let key, _, _)) in deliveries {
            switch event.kind {
            case .topic(let room, let topic, _?):
                history.record(.topic(StoredTopic(room: room, roomKey: key, topic: topic, eventID: event.id)))
            case .message(let room, let from, let text), .action(let room, let from, let text):
                var isAction = false
                if case .action = event.kind { isAction = true }
                history.record(
                    HistoryRecord(id: event.id, time: event.time, room: room, roomKey: key, from: from, text: text, isAction: isAction))
            default:
                break
            }
        }
    }

    /// Removes the kept lines `purge` matches, up to the newest event now: from every room's
    /// scrollback at once (under the lock, so they are never replayed), and from the store, in
    /// order after every line queued before. Returns how many the store removed.
    func purge(_ purge: HistoryPurge) async -> Result<Int, HistoryUnavailable> {
        guard let history else { return .failure(HistoryUnavailable(historyState)) }
        let result = await withCheckedContinuation { (done: CheckedContinuation<Result<Int, any Error>, Never>) in
            directory.withLock { directory in
                var purge = purge
                purge.upTo = directory.newestEventID
                directory.forget(purge)
                history.record(.purge(purge, done: { done.resume(returning: $0) }))
            }
            Task { await history.flush() }
        }
        return result.mapError { HistoryUnavailable("the store failed (\($0))") }
    }

    /// Registers a connection; on success its welcome and join arrive through its mailbox.
    func register(
        _ id: SessionID, nick: String, shard: Int, address: String, kind: ClientKind, re: RequestID?, account: String? = nil
    ) -> Result<Nickname, NickError> {
        let now = clock()
        return directory.withLock { directory in
            switch directory.register(id, nick: nick, shard: shard, address: address, kind: kind, account: account, at: now, re: re) {
            case .failure(let error): return .failure(error)
            case .success(let deliveries):
                route(deliveries, directory, requester: id)
                return .success(directory.clients[id]!.nick)
            }
        }
    }

    var stats: (clients: Int, rooms: Int) {
        directory.withLock { ($0.clients.count, $0.rooms.count) }
    }

    /// Like `perform`, for transitions that can be refused (admin commands).
    func attempt<Failure: Error>(_ transition: (inout Directory, Timestamp) -> Result<[Delivery], Failure>) -> Result<[Delivery], Failure> {
        let now = clock()
        return directory.withLock { directory in
            let result = transition(&directory, now)
            if case .success(let deliveries) = result { route(deliveries, directory) }
            return result
        }
    }

    /// Posts each delivery to the loops it concerns. Each loop gets a payload of its own, which
    /// it renders for the dialects its recipients speak (`Payload`): nothing is rendered here,
    /// under the lock.
    private func route(_ deliveries: [Delivery], _ directory: borrowing Directory, requester: SessionID? = nil) {
        for delivery in deliveries {
            switch delivery {
            case .event(let event, .room(let key, let sender, let targets)):
                for shard in targets {
                    shards[shard].post(.room(key, Payload(event, requester: requester), sender: sender))
                }
            case .event(let event, .session(let id)):
                guard let shard = directory.clients[id]?.shard else { continue }
                shards[shard].post(id == requester ? .reply(id, Payload(event)) : .session(id, Payload(event)))
            case .event(let event, .echo(let id)):
                guard let shard = directory.clients[id]?.shard else { continue }
                shards[shard].post(.reply(id, Payload(event, echo: true)))
            case .event(let event, .everyone):
                for shard in shards { shard.post(.everyone(Payload(event))) }
            case .event(let event, .sessions(let ids)):
                var byShard = Array(repeating: [SessionID](), count: shards.count)
                for id in ids {
                    guard let shard = directory.clients[id]?.shard else { continue }
                    if id == requester, event.re != nil {
                        shards[shard].post(.reply(id, Payload(event, requester: requester)))  // with its request's id
                    } else {
                        byShard[shard].append(id)
                    }
                }
                for (shard, ids) in byShard.enumerated() where !ids.isEmpty {
                    shards[shard].post(.sessions(ids, Payload(event, requester: requester)))
                }
            case .added(let id, let room, let shard):
                shards[shard].post(.added(id, room: room))
            case .removed(let id, let room, let shard):
                shards[shard].post(.removed(id, room: room))
            case .current(let id, let room, let shard):
                shards[shard].post(.current(id, room: room))
            case .renamed(let id, let nick, let shard):
                shards[shard].post(.renamed(id, nick: nick))
            case .readHistory, .account:
                break  // done after the lock (`perform`)
            }
        }
    }
}

extension Timestamp {
    /// The wall clock now.
    @Sendable static func now() -> Timestamp {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Timestamp(milliseconds: Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000)
    }
}
