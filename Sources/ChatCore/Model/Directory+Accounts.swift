extension Directory {
    /// The accounts kept from before a restart (their names), and whether accounts can be used.
    public mutating func seedAccounts(_ names: [String]) {
        accountsAvailable = true
        for name in names { addAccount(name) }
    }

    /// The account `nick` is, or looks like (by its key or its confusable skeleton), by name.
    public func account(for nick: Nickname) -> String? {
        accounts[nick.key] ?? accountShapes[nick.shapeKey]
    }

    mutating func addAccount(_ name: String) {
        guard case .success(let nick) = Nickname.validate(name, maxLength: 1000) else { return }
        accounts[nick.key] = name
        accountShapes[nick.shapeKey] = name
    }

    /// Forgets the account with key `key`; returns its name.
    @discardableResult
    mutating func removeAccount(key: String) -> String? {
        guard let name = accounts.removeValue(forKey: key) else { return nil }
        if case .success(let nick) = Nickname.validate(name, maxLength: 1000) { accountShapes[nick.shapeKey] = nil }
        return name
    }

    /// `/register PASSWORD`: makes the client's nick an account, with that password, and signs
    /// it in. The hashing and the write are the server's (`Delivery.account`).
    public mutating func registerAccount(_ id: SessionID, password: Password, at now: Timestamp, re: RequestID?) -> [Delivery] {
        guard let client = clients[id] else { return [] }
        if let refused = accountsRefused(id, at: now, re: re) { return [refused] }
        if let account = client.account {
            return [refusal(.alreadySignedIn, "You are signed in as \(account) already.", id, now, re)]
        }
        if let name = account(for: client.nick) {
            return [refusal(.accountExists, "\(name) is a registered account: /login \(name) PASSWORD to sign in.", id, now, re)]
        }
        if let problem = Password.problem(password.text) { return [refusal(.passwordInvalid, problem, id, now, re)] }
        let task = AccountTask(
            session: id, key: client.nick.key, kind: .create(name: client.nick.display, password: password), address: client.address, re: re
        )
        return [.account(task)]
    }

    /// `/login [NICK] PASSWORD` (`/identify`): signs in to the account `nick` (the client's own
    /// nick's by default), after the password is checked; past the failed sign-ins allowed, it is
    /// refused without a check.
    public mutating func signIn(
        _ id: SessionID, account rawNick: String?, password: Password, at now: Timestamp, re: RequestID?
    )
        -> [Delivery]
    {
        guard let client = clients[id] else { return [] }
        if let refused = accountsRefused(id, at: now, re: re) { return [refused] }
        var asked = client.nick
        if let rawNick {
            guard case .success(let nick) = Nickname.validate(rawNick, maxLength: 1000) else {
                return [refusal(.noSuchAccount, "There is no account \(Sanitizer.cleanArgument(rawNick)).", id, now, re)]
            }
            asked = nick
        }
        guard let name = account(for: asked), case .success(let canonical) = Nickname.validate(name, maxLength: 1000) else {
            let shown = rawNick.map(Sanitizer.cleanArgument) ?? client.nick.display
            return [refusal(.noSuchAccount, "There is no account \(shown): /register PASSWORD makes your nick one.", id, now, re)]
        }
        let key = canonical.key
        if client.account == name {
            return [.event(event(.notice(text: "You are signed in as \(name) already."), at: now, re: re), to: .session(id))]
        }
        if let wait = signIns.waitSeconds(account: key, address: client.address, at: now) {
            return [refusal(.tooManyAttempts, "Too many failed sign-ins: try again in \(Durations.short(wait)).", id, now, re)]
        }
        return [
            .account(AccountTask(session: id, key: key, kind: .verify(password: password, then: .signIn), address: client.address, re: re))
        ]
    }

    /// `/password OLD NEW` and `/unregister PASSWORD`: for the signed-in account, after the
    /// password is checked.
    public mutating func manageAccount(
        _ id: SessionID, password: Password, then: AccountTask.AfterVerify, at now: Timestamp, re: RequestID?
    )
        -> [Delivery]
    {
        guard let client = clients[id] else { return [] }
        if let refused = accountsRefused(id, at: now, re: re) { return [refused] }
        guard let account = client.account, case .success(let nick) = Nickname.validate(account, maxLength: 1000) else {
            return [refusal(.notSignedIn, "You are not signed in: /login NICK PASSWORD first.", id, now, re)]
        }
        if case .changePassword(let new) = then, let problem = Password.problem(new.text) {
            return [refusal(.passwordInvalid, problem, id, now, re)]
        }
        if let wait = signIns.waitSeconds(account: nick.key, address: client.address, at: now) {
            return [refusal(.tooManyAttempts, "Too many wrong passwords: try again in \(Durations.short(wait)).", id, now, re)]
        }
        return [
            .account(
                AccountTask(session: id, key: nick.key, kind: .verify(password: password, then: then), address: client.address, re: re))
        ]
    }

    /// The end of an `AccountTask`: the client is told, and signed in or out.
    public mutating func accountDone(_ task: AccountTask, _ outcome: AccountOutcome, at now: Timestamp) -> [Delivery] {
        let id = task.session
        let re = task.re
        // The store changed whether or not the client is still here.
        switch (task.kind, outcome) {
        case (.create, .done(let name)): addAccount(name)
        case (.verify(_, .drop), .done): removeAccount(key: task.key)
        default: break
        }
        guard let client = clients[id] else { return [] }
        switch outcome {
        case .wrongPassword:
            signIns.fail(account: task.key, address: task.address, at: now)
            return [refusal(.wrongPassword, "Wrong password.", id, now, re)]
        case .noSuchAccount:
            return [refusal(.noSuchAccount, "There is no such account (any more).", id, now, re)]
        case .exists:
            return [refusal(.accountExists, "That account exists already: /login to sign in.", id, now, re)]
        case .unavailable(let reason):
            return [refusal(.accountsUnavailable, "Accounts are not available: \(reason).", id, now, re)]
        case .done(let name):
            switch task.kind {
            case .create:
                clients[id]?.account = name
                signInDeadlines[id] = nil
                return [
                    .event(
                        event(.notice(text: "Registered the account \(name): sign in with /login \(name) PASSWORD."), at: now, re: re),
                        to: .session(id)),
                    .event(event(.account(name: name), at: now, re: re), to: .session(id)),
                ]
            case .verify(_, .signIn):
                signIns.succeed(account: task.key)
                clients[id]?.account = name
                signInDeadlines[id] = nil
                var out: [Delivery] = [.event(event(.account(name: name), at: now, re: re), to: .session(id))]
                // Signed in under another nick: take the account's, if it is free.
                if client.nick.key != task.key, nicks[task.key] == nil {
                    out += changeNick(id, to: name, at: now)
                }
                return out
            case .verify(_, .changePassword):
                return [.event(event(.notice(text: "The password of \(name) is changed."), at: now, re: re), to: .session(id))]
            case .verify(_, .drop):
                // Everyone signed in to it is signed out.
                var out: [Delivery] = []
                for (session, other) in clients where other.account == name {
                    clients[session]?.account = nil
                    out.append(.event(event(.account(name: nil), at: now, re: session == id ? re : nil), to: .session(session)))
                }
                out.insert(.event(event(.notice(text: "The account \(name) is gone."), at: now, re: re), to: .session(id)), at: 0)
                return out
            }
        }
    }

    /// Whether the client's nick is an account it is not signed in to: then it is told to sign
    /// in within `accountGraceSeconds` (a deadline `protectNicks` enforces); otherwise any
    /// deadline goes.
    mutating func protectNick(_ id: SessionID, at now: Timestamp) -> [Delivery] {
        guard let client = clients[id] else { return [] }
        guard let name = account(for: client.nick), client.account != name else {
            signInDeadlines[id] = nil
            return []
        }
        signInDeadlines[id] = Timestamp(milliseconds: now.milliseconds + Int64(accountGraceSeconds) * 1000)
        let text =
            "\(name) is a registered account: /login PASSWORD within \(Durations.short(accountGraceSeconds)), or you will be renamed."
        return [.event(event(.notice(text: text), at: now), to: .session(id))]
    }

    /// Renames everyone past their sign-in deadline to a guest nick (`Guest` and digits), so that
    /// nobody keeps someone else's account's nick. Called about once a second.
    public mutating func protectNicks(at now: Timestamp) -> [Delivery] {
        var out: [Delivery] = []
        for (id, deadline) in signInDeadlines where deadline <= now {
            signInDeadlines[id] = nil
            guard let client = clients[id] else { continue }
            // Dropped meanwhile, or signed in: nothing to protect any more.
            guard let name = account(for: client.nick), client.account != name else { continue }
            var guest = "Guest\(id.value)"
            var suffix = 0
            while case .failure = claimable(guest, for: id, at: now) {
                suffix += 1
                guest = "Guest\(id.value)_\(suffix)"
                if suffix > 20 { break }
            }
            let old = client.nick.display
            out.append(
                .event(event(.notice(text: "You did not sign in to \(old) in time: you are \(guest) now."), at: now), to: .session(id)))
            out += changeNick(id, to: guest, at: now)
        }
        return out
    }

    /// An operator dropped the account with key `key` (`chatctl account drop`), already gone
    /// from the store: everyone signed in to it is signed out and told.
    public mutating func operatorDroppedAccount(key: String, at now: Timestamp) -> [Delivery] {
        guard let name = removeAccount(key: key) else { return [] }
        var out: [Delivery] = []
        for (session, client) in clients where client.account == name {
            clients[session]?.account = nil
            out.append(.event(event(.notice(text: "An operator dropped the account \(name)."), at: now), to: .session(session)))
            out.append(.event(event(.account(name: nil), at: now), to: .session(session)))
        }
        // Whoever holds the nick now may keep it: it is no one's account any more.
        for (session, client) in clients where client.nick.key == key { signInDeadlines[session] = nil }
        return out
    }

    /// The nicks of those signed in to the account `name`.
    public func signedIn(to name: String) -> [String] {
        clients.values.filter { $0.account == name }.map(\.nick.display).sorted()
    }

    private mutating func accountsRefused(_ id: SessionID, at now: Timestamp, re: RequestID?) -> Delivery? {
        guard !accountsAvailable else { return nil }
        return refusal(
            .accountsUnavailable, "Accounts are not available on this server: they are kept with history, which is off.", id, now, re)
    }
}
