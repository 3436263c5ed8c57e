"""irctest controller for chatd's IRC listener (make irctest; docs/IRC.md, "Conformance")."""
import os
import subprocess

from irctest.basecontrollers import BaseServerController, DirectoryBasedController, NotImplementedByController

CHATD = os.environ.get("CHATD", os.path.join(os.path.dirname(__file__), "..", "..", ".build", "debug", "chatd"))


class ChatdController(BaseServerController, DirectoryBasedController):
    software_name = "chatd"
    supported_sasl_mechanisms = set()
    supported_capabilities = {"account-tag", "away-notify", "echo-message", "message-tags", "multi-prefix", "server-time", "userhost-in-names", "batch"}

    def run(self, hostname, port, password=None, ssl=False, restricted_metadata_keys=None,
            valid_metadata_keys=None, invalid_metadata_keys=None):
        if password:
            raise NotImplementedByController("a server password")
        if ssl:
            raise NotImplementedByController("STARTTLS (chatd has TLS ports instead)")
        if valid_metadata_keys or invalid_metadata_keys:
            raise NotImplementedByController("METADATA")
        assert self.proc is None
        self.port = port
        self.create_config()
        # Tests connect many clients at once from one address, and expect no default room.
        config = os.path.join(self.directory, "chatd.json")
        with open(config, "w") as fd:
            fd.write('{"limits": {"maxClientsPerAddress": 1000, "connectsPerAddressPerMinute": 100000,'
                     ' "connectBurstPerAddress": 10000, "floodBurst": 1000, "floodRate": 1000},'
                     ' "irc": {"serverName": "My.Little.Server"}, "history": {"enabled": false}}')
        self.proc = subprocess.Popen(
            [CHATD, "--config", config, "--listen", "127.0.0.1:0", "--no-web", "--irc-listen", f"{hostname}:{port}",
             "--admin-socket", os.path.join(self.directory, "admin.sock"), "--state-directory", self.directory,
             "--log-level", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def get_irctest_controller_class():
    return ChatdController
