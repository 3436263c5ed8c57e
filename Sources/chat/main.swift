import ArgumentParser
import ChatCommand

Chat.main()
