#!/usr/bin/env python3
"""A real SMTP server for barkeep's tests (aiosmtpd). It keeps each message exactly as it
arrived (so a DKIM signature can be checked on the received bytes) as a file in
DIR/new/, refuses recipients whose address starts with `bounce` with a permanent 550,
greylists recipients whose address starts with `soft` (a temporary 451 the first time
each such address is seen, accepted after), and with --discard keeps nothing (a sink
for the benchmark).

    server.py PORT DIR [--discard]
"""

import asyncio
import os
import sys
import uuid

from aiosmtpd.controller import Controller


class Keep:
    def __init__(self, folder, discard):
        self.folder = folder
        self.discard = discard
        self.greylisted = set()
        os.makedirs(os.path.join(folder, "new"), exist_ok=True)
        os.makedirs(os.path.join(folder, "tmp"), exist_ok=True)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower().startswith("bounce"):
            return "550 5.1.1 No such user here"
        if address.lower().startswith("soft") and address.lower() not in self.greylisted:
            self.greylisted.add(address.lower())
            return "451 4.7.1 Greylisted, please try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if not self.discard:
            name = uuid.uuid4().hex
            tmp = os.path.join(self.folder, "tmp", name)
            with open(tmp, "wb") as f:
                f.write(envelope.original_content)
            os.rename(tmp, os.path.join(self.folder, "new", name))
        return "250 Message accepted for delivery"


def main():
    port, folder = int(sys.argv[1]), sys.argv[2]
    discard = "--discard" in sys.argv[3:]
    controller = Controller(Keep(folder, discard), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        asyncio.get_event_loop().run_forever()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
