"""IPP FaxOut (PWG 5100.15): the network fax printer at ``/ipp/faxout`` (issue #11).

- :mod:`.codec`: the RFC 8010 encoding, sans-IO (bytes in, messages out, and back), bounded.
- :mod:`.model`: the pure decisions: fax attributes to lanfax terms, ``tel:`` URIs, a
  broadcast's jobs to one IPP job-state.
- :mod:`.request`: reading a request's operation attributes.
- :mod:`.printer`: the printer's attributes; :mod:`.jobview`: a printed job's attributes.
- :mod:`.intake`: raster decoding, drafts' files, Create-Job's attributes kept for later.
- :mod:`.faxout`: the operations over the fax service; :mod:`.dnssd`: the announcement.

The HTTP adapter is :mod:`lanfax.api.ipp`.
"""
