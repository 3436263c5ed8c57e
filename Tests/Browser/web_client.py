"""The web client in a real browser: headless Chromium, driven by Selenium.

A browser user and a TCP (telnet-style) user meet in one room: each sees the other's messages,
joins and leaves; what the TCP user sends is shown as text, never as HTML; the unread marker,
the member list, the reconnection after the socket drops, and staying away after a kick work; the page breaks no rule of its
Content-Security-Policy. Run by Tests/EndToEndTests/BrowserTests.swift against a chatd it
started; exits 0 when every check passed.
"""

import argparse
import socket
import subprocess
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

TIMEOUT = 15


class Telnet:
    """A line client of the chat port, as telnet is."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.buffer = b""

    def line(self, text):
        self.sock.sendall(text.encode() + b"\r\n")

    def expect(self, wanted):
        deadline = time.monotonic() + TIMEOUT
        seen = []
        while time.monotonic() < deadline:
            while b"\n" in self.buffer:
                raw, self.buffer = self.buffer.split(b"\n", 1)
                text = raw.decode(errors="replace").rstrip("\r")
                seen.append(text)
                if wanted in text:
                    return text
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            self.buffer += chunk
        raise AssertionError(f"the TCP client never saw {wanted!r}; it saw {seen}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--chat-port", type=int, required=True)
    parser.add_argument("--chatctl", required=True)
    parser.add_argument("--admin-socket", required=True)
    parser.add_argument("--screenshot", required=True)
    args = parser.parse_args()

    telnet = Telnet(args.chat_port)
    telnet.expect("Please choose a nickname")
    telnet.line("telnetter")
    telnet.expect("You are now known as telnetter")

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1200,800"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    wait = WebDriverWait(driver, TIMEOUT)
    try:
        driver.get(args.url)
        nick = wait.until(EC.visibility_of_element_located((By.ID, "nick-input")))
        nick.clear()
        nick.send_keys("telnetter", Keys.ENTER)
        wait.until(EC.text_to_be_present_in_element((By.ID, "login-error"), "already in use"))
        print("ok: a taken nick shows the server's reason")
        nick.clear()
        nick.send_keys("browser", Keys.ENTER)
        wait.until(EC.text_to_be_present_in_element((By.ID, "my-nick"), "browser"))
        telnet.expect("*** browser has joined #lobby")
        print("ok: the browser user joined; the TCP user saw it")

        box = driver.find_element(By.ID, "message-input")
        box.send_keys("hello from the browser", Keys.ENTER)
        telnet.expect("<browser> hello from the browser")
        print("ok: a message from the browser reached the TCP user")

        hostile = "hello from telnet <b>bold?</b><img src=x onerror=alert(1)>"
        telnet.line(hostile)
        wait.until(EC.text_to_be_present_in_element((By.ID, "messages"), hostile))
        messages = driver.find_element(By.ID, "messages")
        assert not messages.find_elements(By.TAG_NAME, "b"), "markup from a message was rendered as HTML"
        assert not messages.find_elements(By.TAG_NAME, "img"), "markup from a message was rendered as HTML"
        print("ok: a message from the TCP user is shown, as text")

        members = driver.find_element(By.ID, "member-list").text.split("\n")
        assert sorted(members) == ["browser", "telnetter"], f"member list: {members}"
        print("ok: the member list")

        box.send_keys("/me waves", Keys.ENTER)
        telnet.expect("* browser waves")
        box.send_keys("/join #dev", Keys.ENTER)
        wait.until(EC.text_to_be_present_in_element((By.ID, "room-title"), "#dev"))
        telnet.line("are you still in the lobby?")
        lobby = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#room-list li[data-room='#lobby'] .badge")))
        assert lobby.text == "1", f"unread badge: {lobby.text!r}"
        print("ok: /join switches rooms; the other room shows an unread marker")

        driver.find_element(By.CSS_SELECTOR, "#room-list li[data-room='#lobby']").click()
        wait.until(EC.text_to_be_present_in_element((By.ID, "messages"), "are you still in the lobby?"))
        telnet.line("/join #dev")
        telnet.line("anyone in dev?")
        dev = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#room-list li[data-room='#dev'] .badge")))
        assert dev.text == "1", f"unread badge: {dev.text!r} (joins are not counted, messages are)"
        print("ok: a message in another room is counted there, a join is not")

        # The connection drops (its TCP sockets are reset): the page reconnects and rejoins.
        web_port = args.url.rstrip("/").rsplit(":", 1)[1]
        subprocess.run(["ss", "-K", "dst", "127.0.0.1", "dport", "=", web_port], check=True, capture_output=True)
        telnet.expect("*** browser has quit")
        wait.until(EC.text_to_be_present_in_element((By.ID, "messages"), "Reconnecting in"))
        telnet.expect("*** browser has joined #dev")
        wait.until(EC.text_to_be_present_in_element((By.ID, "messages"), "Reconnected."))
        box.send_keys("back again", Keys.ENTER)
        telnet.expect("<browser> back again")
        print("ok: after a drop the page reconnects, rejoins its rooms and talks again")

        # An operator's kick is not a drop: the page says so and stays away.
        kick = [args.chatctl, "--socket", args.admin_socket, "kick", "browser", "be", "nice"]
        subprocess.run(kick, check=True, capture_output=True)
        telnet.expect("*** browser has quit (Kicked by an operator: be nice)")
        wait.until(EC.text_to_be_present_in_element((By.ID, "messages"), "Not reconnecting; reload the page to come back."))
        time.sleep(3)  # the window in which a reconnection would have happened (the first retry is after about 1 s)
        telnet.line("/who #dev")
        who = telnet.expect("#dev (")
        assert "browser" not in who, f"the page came back after a kick: {who}"
        print("ok: after a kick the page says so and does not reconnect")

        driver.refresh()  # the user comes back (the page remembers the nick)
        telnet.expect("*** browser has joined #lobby")
        wait.until(EC.text_to_be_present_in_element((By.ID, "my-nick"), "browser"))
        box = driver.find_element(By.ID, "message-input")
        box.send_keys("/quit see you", Keys.ENTER)
        telnet.expect("*** browser has quit (Quit: see you)")
        print("ok: /quit leaves with its reason")

        driver.save_screenshot(args.screenshot)
        problems = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        assert not problems, f"the browser logged errors: {problems}"
        print("ok: no errors or Content-Security-Policy violations in the browser's log")
    finally:
        driver.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
