import ArgumentParser
import ChatCommand
import ChatctlCommand
import DaemonCommand

// One binary for the three commands (the .deb installs chatctl and chat as links to it): the name
// it was started by picks the command, the way busybox does. The Swift runtime, Foundation's
// essentials, NIO and ChatCore are linked once instead of three times.
switch CommandLine.arguments.first.map({ $0.split(separator: "/").last.map(String.init) ?? $0 }) {
case "chatctl": Chatctl.main()
case "chat": Chat.main()
default: await Chatd.launch()
}
