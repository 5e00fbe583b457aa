"""The Chinese carriers' SMS gateway protocols beside SMPP: CMPP 2.0/3.0 (China Mobile),
SGIP 1.2 (China Unicom) and SMGP 3.0 (China Telecom), as table-driven PDU codecs
(`fallback.gateways.pdu`) with one module of definitions per protocol."""
