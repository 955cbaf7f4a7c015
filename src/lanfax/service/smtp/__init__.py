"""E-mail to fax: an SMTP listener in ``lanfax serve`` (issue #11, part 2).

* :mod:`.settings` - the ``[smtp]`` section of the settings file, validated;
* :mod:`.message` - pure: recipient addresses -> fax recipients, a MIME message -> the
  documents to fax and the cover page's fields (HTML made readable text);
* :mod:`.policy` - pure: who may send (AUTH, trusted relays, ``From:`` -> lanfax user) and
  the SMTP replies that say why not;
* :mod:`.notices` - pure: the "accepted" and "refused" reply mails;
* :mod:`.intake` - the mail spool (fsynced before ``250``) and the worker that turns a
  spooled mail into one broadcast, all recipients or none;
* :mod:`.listener` - the thin aiosmtpd adapter on the service's event loop.
"""
