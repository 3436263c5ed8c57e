"""irctest controller for ngIRCd (Debian's), the peer chatd's IRC listener is compared with."""
import os
import subprocess

from irctest.basecontrollers import BaseServerController, DirectoryBasedController, NotImplementedByController

CONFIG = """[Global]
    Name = My.Little.Server
    Info = irctest
    Listen = {hostname}
    Ports = {port}
    ServerGID = 0
    ServerUID = 0
    PidFile = {directory}/ngircd.pid
    MotdPhrase = irctest
[Limits]
    MaxConnectionsIP = 0
    MaxJoins = 0
    MaxNickLength = 32
[Options]
    DNS = no
    Ident = no
    PAM = no
    RequireAuthPing = no
"""


class NgircdController(BaseServerController, DirectoryBasedController):
    software_name = "ngIRCd"
    supported_sasl_mechanisms = set()
    supported_capabilities = {"multi-prefix"}

    def run(self, hostname, port, password=None, ssl=False, restricted_metadata_keys=None,
            valid_metadata_keys=None, invalid_metadata_keys=None):
        if password:
            raise NotImplementedByController("a server password")
        if ssl:
            raise NotImplementedByController("STARTTLS")
        if valid_metadata_keys or invalid_metadata_keys:
            raise NotImplementedByController("METADATA")
        assert self.proc is None
        self.port = port
        self.create_config()
        path = os.path.join(self.directory, "ngircd.conf")
        with open(path, "w") as fd:
            fd.write(CONFIG.format(hostname=hostname, port=port, directory=self.directory))
        self.proc = subprocess.Popen(["/usr/sbin/ngircd", "--nodaemon", "--config", path],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def get_irctest_controller_class():
    return NgircdController
