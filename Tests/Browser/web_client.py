"""The web client in a real browser: headless Chromium, driven by Selenium.

A browser user and a TCP (telnet-style) user meet in one room: each sees the other's messages,
joins and leaves; what the TCP user sends is shown as text, never as HTML; the unread marker,
the member list, the reconnection after the socket drops, and staying away after a kick work; the page breaks no rule of its
Content-Security-Policy. Run by Tests/EndToEndTests/BrowserTests.swift against a chatd it
started; exits 0 when every check passed.
"""

import argparse
import os
import re
import signal
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

# Stands in for the browser's Notification, recording what the page would show.
NOTIFICATION_STUB = """
window.__notes = [];
class StubNotification {
  constructor(title, options) { window.__notes.push([title, options.body]); }
}
StubNotification.permission = "granted";
StubNotification.requestPermission = () => Promise.resolve("granted");
window.Notification = StubNotification;
"""


def contrast(foreground, background):
    """WCAG contrast ratio of two computed CSS colours ("rgb(r, g, b)")."""
    def luminance(color):
        channels = [int(float(c)) / 255 for c in color[color.index("(") + 1:color.index(")")].split(",")[:3]]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    high, low = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def in_sight(driver, element):
    """Whether the element is on screen and not hidden behind anything (its centre is its own)."""
    return driver.execute_script(
        "const r = arguments[0].getBoundingClientRect();"
        "if (r.width === 0 || r.right > innerWidth || r.bottom > innerHeight || r.left < 0 || r.top < 0) return false;"
        "const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);"
        "return hit === arguments[0] || arguments[0].contains(hit);", element)


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
    parser.add_argument("--pid", type=int, required=True, help="chatd's pid, to stop it")
    parser.add_argument("--restart", required=True, help="chatd's command line (words joined by U+001F), to start it again")
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
    restarted = None
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
        assert driver.title == "(1) chatd", f"title: {driver.title!r}"
        print("ok: the tab's title counts the unread messages")

        # A private message has a conversation of its own, whatever room is on screen.
        telnet.line("/msg browser psst, a secret")
        private = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#room-list li[data-room='@telnetter'] .badge")))
        assert private.text == "1" and "mention" in private.get_attribute("class"), private.get_attribute("outerHTML")
        assert "psst" not in driver.find_element(By.ID, "messages").text, "the private message went into #lobby"
        driver.find_element(By.CSS_SELECTOR, "#room-list li[data-room='@telnetter']").click()
        wait.until(EC.text_to_be_present_in_element((By.ID, "messages"), "*telnetter* psst, a secret"))
        assert driver.find_element(By.ID, "room-title").text == "Private: telnetter"
        box.send_keys("hi back", Keys.ENTER)
        telnet.expect("*browser* hi back")
        wait.until(EC.text_to_be_present_in_element((By.ID, "messages"), "→ *telnetter* hi back"))
        driver.find_element(By.CSS_SELECTOR, "#room-list li[data-room='#lobby']").click()
        wait.until(EC.text_to_be_present_in_element((By.ID, "room-title"), "#lobby"))
        print("ok: a private conversation has its own entry, with its badge, and is answered from there")

        # Notifications, once the user turns them on, for private messages and mentions.
        driver.execute_script(NOTIFICATION_STUB)
        toggle = driver.find_element(By.ID, "notify-toggle")
        assert toggle.text == "Notifications: off", toggle.text
        toggle.click()
        wait.until(EC.text_to_be_present_in_element((By.ID, "notify-toggle"), "Notifications: on"))
        telnet.line("/msg browser are you there?")
        telnet.line("browser: a look at #dev, please")
        wait.until(lambda d: d.execute_script("return window.__notes.length") >= 2)
        notes = driver.execute_script("return window.__notes")
        assert notes == [["telnetter (private)", "are you there?"], ["telnetter in #dev", "browser: a look at #dev, please"]], notes
        assert driver.title == "(3) chatd", f"title: {driver.title!r}"
        print("ok: notifications for a private message and a mention, when turned on")

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
        dev = driver.find_element(By.CSS_SELECTOR, "#room-list li[data-room='#dev'] .badge")
        assert dev.text == "2" and "mention" in dev.get_attribute("class"), dev.get_attribute("outerHTML")

        # The server restarts: the header and the log say the same thing while it is down, and
        # the unread and mention badges outlive it.
        os.kill(args.pid, signal.SIGTERM)
        wait.until(EC.text_to_be_present_in_element((By.ID, "connection-status"), "Server shutting down"))
        deadline = time.monotonic() + TIMEOUT
        while os.path.exists(f"/proc/{args.pid}") and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(2.5)  # at least one failed attempt to reconnect (the first comes after about 1 s)
        header = driver.find_element(By.ID, "connection-status").text
        assert header.startswith("Disconnected: Server shutting down."), f"header while down: {header!r}"
        restarted = subprocess.Popen(args.restart.split("\x1f"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait.until(lambda d: d.find_element(By.ID, "connection-status").text == "")
        telnet = Telnet(args.chat_port)
        telnet.expect("Please choose a nickname")
        telnet.line("telnetter")
        telnet.expect("You are now known as telnetter")
        dev = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#room-list li[data-room='#dev'] .badge")))
        assert dev.text == "2" and "mention" in dev.get_attribute("class"), dev.get_attribute("outerHTML")
        assert driver.find_element(By.CSS_SELECTOR, "#room-list li[data-room='@telnetter'] .badge").text == "1"
        wait.until(EC.text_to_be_present_in_element((By.ID, "room-title"), "#lobby"))
        print("ok: while the server is down the header says why, as the log does; badges outlive a restart")

        # Lines: a long message wraps under its own first line, not under the time; /help is in columns.
        box.send_keys("long " * 60, Keys.ENTER)
        telnet.expect("<browser> long long")
        last = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#messages li.own"))[-1]
        stamp, text = last.find_element(By.CSS_SELECTOR, ".time"), last.find_element(By.CSS_SELECTOR, ".body")
        assert text.rect["x"] >= stamp.rect["x"] + stamp.rect["width"], (stamp.rect, text.rect)
        assert text.rect["height"] > 2 * stamp.rect["height"], "the long message should wrap"
        box.send_keys("/help", Keys.ENTER)
        helpline = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#messages .help"))[0]
        family = driver.execute_script("return getComputedStyle(arguments[0]).fontFamily", helpline)
        assert "monospace" in family, family
        print("ok: long lines are indented past the time, /help is shown in a monospace font")

        # Dark mode: white text on the current room and the buttons is readable (4.5:1).
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
        for selector in ("#room-list li.current", "#send-form button", "#room-list .badge.mention"):
            colors = driver.execute_script(
                "const s = getComputedStyle(document.querySelector(arguments[0])); return [s.color, s.backgroundColor];", selector)
            ratio = contrast(*colors)
            assert ratio >= 4.5, f"{selector}: {colors} is {ratio:.2f}:1"
        driver.save_screenshot(args.screenshot.replace(".png", "-dark.png"))
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
        print("ok: dark mode keeps text on the accent colour at 4.5:1 or better")

        # /whois: the server's answer, shown as a status line in the current room.
        box.send_keys("/whois telnetter", Keys.ENTER)
        wait.until(EC.text_to_be_present_in_element((By.ID, "messages"), "telnetter: in #lobby; connected since "))
        whois = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#messages li") if "telnetter: in #lobby" in e.text][-1]
        assert re.search(r"; idle \d+s; client line$", whois), whois
        print("ok: /whois shows the rooms, connected-since, idle time and client kind")

        # A phone (390x844): every room and its badge in sight, the join form too, and the members.
        box.send_keys("/join #ops", Keys.ENTER)
        wait.until(EC.text_to_be_present_in_element((By.ID, "room-title"), "#ops"))
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True})
        wait.until(lambda d: d.execute_script("return innerWidth") == 390)
        entries = driver.find_elements(By.CSS_SELECTOR, "#room-list li")
        assert len(entries) == 4, [e.text for e in entries]
        for entry in entries + driver.find_elements(By.CSS_SELECTOR, "#room-list .badge"):
            assert in_sight(driver, entry), f"out of sight on a phone: {entry.get_attribute('outerHTML')}"
        assert in_sight(driver, driver.find_element(By.ID, "join-input")), "the join form is out of sight on a phone"
        assert in_sight(driver, driver.find_element(By.ID, "message-input")), "the message box is out of sight on a phone"
        assert not driver.find_element(By.ID, "member-list").is_displayed()
        driver.find_element(By.ID, "members-toggle").click()
        members = wait.until(EC.visibility_of_element_located((By.ID, "member-list")))
        assert "browser" in members.text, members.text
        driver.save_screenshot(args.screenshot.replace(".png", "-phone.png"))
        driver.find_element(By.ID, "members-close").click()
        wait.until(EC.invisibility_of_element_located((By.ID, "member-list")))
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        print("ok: on a phone every room, its badge and the join form are in sight, and the members open")

        # A topic set from telnet is in the page's header at once, and told in the room.
        driver.find_elements(By.CSS_SELECTOR, "#room-list li")[0].click()   # back to #lobby
        wait.until(EC.text_to_be_present_in_element((By.ID, "room-title"), "#lobby"))
        telnet.line("/topic #lobby Release day: ship it <b>now</b>")
        telnet.expect("*** telnetter set the topic of #lobby: Release day: ship it <b>now</b>")
        wait.until(EC.text_to_be_present_in_element((By.ID, "room-topic"), "Release day: ship it <b>now</b>"))
        wait.until(EC.text_to_be_present_in_element((By.ID, "messages"), "telnetter set the topic: Release day"))
        print("ok: a topic set from telnet shows in the page's header, as text")

        # An operator's kick is not a drop: the page says so and stays away.
        kick = [args.chatctl, "--socket", args.admin_socket, "kick", "browser", "be", "nice"]
        subprocess.run(kick, check=True, capture_output=True)
        telnet.expect("*** browser has quit (Kicked by an operator: be nice)")
        wait.until(EC.text_to_be_present_in_element((By.ID, "messages"), "Not reconnecting; reload the page to come back."))
        time.sleep(3)  # the window in which a reconnection would have happened (the first retry is after about 1 s)
        telnet.line("/who #lobby")
        who = telnet.expect("#lobby (")
        assert "browser" not in who, f"the page came back after a kick: {who}"
        print("ok: after a kick the page says so and does not reconnect")

        driver.refresh()  # the user comes back (the page remembers the nick)
        telnet.expect("*** browser has joined #lobby")
        wait.until(EC.text_to_be_present_in_element((By.ID, "my-nick"), "browser"))
        # The reload fills the room back in: its scrollback, marked as history, not unread.
        wait.until(lambda d: [e for e in d.find_elements(By.CSS_SELECTOR, "#messages li.history") if "long long" in e.text])
        print("ok: after a reload the page shows the room's scrollback, marked as history")
        # ...and the topic, in the header.
        wait.until(EC.text_to_be_present_in_element((By.ID, "room-topic"), "Release day: ship it <b>now</b>"))
        print("ok: after a reload the page shows the room's topic")
        # chatd replays 5 lines here (history.replayLines); the page asks for older ones while
        # the view is not full, and when scrolled to the top, until it has the first.
        driver.execute_script("document.getElementById('messages').scrollTop = 0")
        wait.until(lambda d: [e for e in d.find_elements(By.CSS_SELECTOR, "#messages li.history") if "hello from the browser" in e.text])
        texts = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#messages li.history")]
        assert sum("hello from the browser" in t for t in texts) == 1, f"a kept line shown twice: {texts}"
        print(f"ok: older lines load above the scrollback ({len(texts)} kept lines shown, the first one included)")
        box = driver.find_element(By.ID, "message-input")

        # Whoever creates a room is its operator: a badge in the member list; /voice and /kick work.
        box.send_keys("/join #crew", Keys.ENTER)
        wait.until(EC.text_to_be_present_in_element((By.ID, "room-title"), "#crew"))
        telnet.line("/join #crew")
        telnet.expect("*** #crew (2 users): @browser, telnetter")
        wait.until(EC.text_to_be_present_in_element((By.ID, "member-list"), "@browser"))
        box.send_keys("/voice telnetter", Keys.ENTER)
        telnet.expect("*** browser sets mode +v telnetter on #crew")
        wait.until(EC.text_to_be_present_in_element((By.ID, "member-list"), "+telnetter"))
        box.send_keys("/kick telnetter enough for today", Keys.ENTER)
        telnet.expect("*** telnetter was kicked from #crew by browser (enough for today)")
        wait.until(EC.text_to_be_present_in_element((By.ID, "messages"), "telnetter was kicked from #crew by browser (enough for today)"))
        members = driver.find_element(By.ID, "member-list").text.split("\n")
        assert members == ["@browser"], f"member list after the kick: {members}"
        print("ok: the room's creator has the operator's badge; /voice gives telnetter its +, /kick takes it out")

        box.send_keys("/quit see you", Keys.ENTER)
        telnet.expect("*** browser has quit (Quit: see you)")
        print("ok: /quit leaves with its reason")

        driver.save_screenshot(args.screenshot)
        # Refused connections while chatd was stopped are expected; nothing else is.
        problems = [
            entry for entry in driver.get_log("browser")
            if entry["level"] == "SEVERE" and "ERR_CONNECTION_REFUSED" not in entry["message"]
        ]
        assert not problems, f"the browser logged errors: {problems}"
        print("ok: no errors or Content-Security-Policy violations in the browser's log")
    finally:
        driver.quit()
        if restarted:
            restarted.terminate()
            restarted.wait(timeout=TIMEOUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
