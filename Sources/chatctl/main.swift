import ArgumentParser
import ChatctlCommand

Chatctl.main()
