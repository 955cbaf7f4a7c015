"""IPP FaxOut (PWG 5100.15): the network fax printer at ``/ipp/faxout`` (issue #11).

:mod:`.codec` is the RFC 8010 encoding (sans-IO, bytes in and out); :mod:`.model` the pure
decisions (fax attributes, ``tel:`` URIs, job states); :mod:`.faxout` the operations over
the fax service; :mod:`.printer` the printer's attributes. The HTTP route is
:mod:`lanfax.api.ipp`.
"""
