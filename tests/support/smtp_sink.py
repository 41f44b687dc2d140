"""aiosmtpd handler for tests: saves each received message as JSON in a directory.

Used as: python3 -m aiosmtpd -n -l 127.0.0.1:PORT -c smtp_sink.Saver DIR
(with this directory on PYTHONPATH). Each message becomes DIR/NNN.json with the envelope,
the decoded subject, Message-ID, text body and attachments (base64), and DIR/NNN.eml raw.
"""
import base64
import email
import email.policy
import json
import os


class Saver:
    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) != 1:
            parser.error("smtp_sink.Saver expects one argument: the directory")
        return cls(args[0])

    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        body = msg.get_body(preferencelist=("plain",))
        out = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "subject": str(msg["subject"]),
            "message_id": str(msg["message-id"]),
            "body": body.get_content() if body is not None else None,
            "body_charset": body.get_content_charset() if body is not None else None,
            # STARTTLS sets session.ssl; under implicit TLS (SMTPS) the transport is TLS.
            "tls": session.ssl is not None
            or server.transport.get_extra_info("ssl_object") is not None,
            "attachments": [
                {
                    "filename": part.get_filename(),
                    "content_type": part.get_content_type(),
                    "data": base64.b64encode(part.get_payload(decode=True)).decode(),
                }
                for part in msg.iter_attachments()
            ],
        }
        n = len([f for f in os.listdir(self.dir) if f.endswith(".json")])
        path = os.path.join(self.dir, "%03d" % n)
        with open(path + ".eml", "wb") as f:
            f.write(raw)
        with open(path + ".json.tmp", "w") as f:
            json.dump(out, f)
        os.rename(path + ".json.tmp", path + ".json")
        return "250 OK"
