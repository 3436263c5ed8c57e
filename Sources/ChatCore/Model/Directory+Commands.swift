extension Directory {
    /// Carries out a registered client's command: the one place a `Command` meets the
    /// directory. Commands a connection answers by itself (`/help`, `/ping`, `/quit`) produce
    /// nothing here.
    public mutating func perform(_ command: Command, by id: SessionID, at now: Timestamp, re: RequestID? = nil) -> [Delivery] {
        switch command {
        case .say(let text, let room):
            say(id, text: text, room: room, action: false, at: now, re: re)
        case .action(let text, let room):
            say(id, text: text, room: room, action: true, at: now, re: re)
        case .privateMessage(let to, let text):
            privateMessage(id, to: to, text: text, at: now, re: re)
        case .nick(let nick):
            changeNick(id, to: nick, at: now, re: re)
        case .join(let room):
            join(id, room: room, at: now, re: re)
        case .part(let room, let reason):
            part(id, room: room, reason: reason, at: now, re: re)
        case .rooms:
            listRooms(id, at: now, re: re)
        case .who(let room):
            who(id, room: room, at: now, re: re)
        case .help, .ping, .quit:
            []
        }
    }
}
