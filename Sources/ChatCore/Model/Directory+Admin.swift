/// What the admin socket asks of the directory.
extension Directory {
    /// Every registered client, by nick.
    public func clientInfos(at now: Timestamp) -> [ClientInfo] {
        clients.values.map { client in
            ClientInfo(
                nick: client.nick.display, address: client.address, rooms: client.rooms.map(\.display), connectedAt: client.connectedAt,
                idleSeconds: client.idleSeconds(at: now), kind: client.kind.description)
        }.sorted { $0.nick.lowercased() < $1.nick.lowercased() }
    }

    /// Every room, by name.
    public var roomInfos: [RoomInfo] {
        rooms.values.map {
            RoomInfo(name: $0.name.display, members: $0.members.count, messages: Int($0.messages), topic: topics[$0.name.key]?.text)
        }
        .sorted { $0.name.lowercased() < $1.name.lowercased() }
    }

    /// The registered client called `rawNick` (under nick folding), and its loop.
    public func session(named rawNick: String) -> (id: SessionID, shard: Int, nick: String, address: String)? {
        guard case .success(let nick) = Nickname.validate(rawNick, maxLength: 1000), let id = holder(of: nick),
            let client = clients[id]
        else { return nil }
        return (id, client.shard, client.nick.display, client.address)
    }

    /// An operator's announcement to everyone, or to one existing room.
    public mutating func announce(_ text: String, room rawRoom: String?, at now: Timestamp) -> Result<[Delivery], AdminFailure> {
        guard let rawRoom else {
            return .success([.event(event(.announcement(text: text, room: nil), at: now), to: .everyone)])
        }
        guard case .success(let name) = RoomName.validate(rawRoom, maxLength: limits.maxRoomNameLength), let room = rooms[name.key] else {
            return .failure(AdminFailure(.noSuchRoom, "There is no room \(Sanitizer.cleanArgument(rawRoom))."))
        }
        let announcement = event(.announcement(text: text, room: room.name.display), at: now)
        return .success([.event(announcement, to: roomAudience(room.name.key))])
    }
}
