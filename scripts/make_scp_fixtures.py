"""Writes SCP-ECG (EN 1064 / ISO 11073-91064) fixtures and checks them with an independent reader.

No package on PyPI writes SCP-ECG, so this script writes the files itself, byte by byte, from the
standard's layout (a 6-byte record header: CRC-CCITT and size; sections with a 16-byte header:
CRC, id, length, version, protocol, reserved; all integers little-endian), from the samples of
assets/samples/synthetic_sinus.csv (12-lead sinus rhythm, 70 bpm, 500 Hz, 10 s, integer uV):

- tests/fixtures/scp/scp_plain.scp: leads I, II, V1-V6 stored as 16-bit amplitudes (no
  Section 2, no differences), 1000 nV per count, so the samples equal the CSV's; full patient
  header (Section 1: last/first name in UTF-8, identifier, birth date, age, sex, device,
  acquisition date and time).
- tests/fixtures/scp/scp_huffman.scp: the same leads, second differences, the standard's
  default Huffman table (Section 2 = 19999), 5000 nV per count.
- tests/fixtures/scp/scp_custom_tables.scp: first differences coded with two custom Huffman
  tables that switch to each other every 500 samples (Section 2 with the tables' codes), all
  12 leads.
- tests/fixtures/scp/scp_reference_beat.scp: reference-beat subtraction: Section 4 (QRS
  locations and subtraction zones), Section 5 (the reference beat, first differences, default
  table), Section 6 (the residual, first differences, default table), and the cart's reading:
  Section 7 (global measurements), 8 (statements), 10 (per-lead measurements), 11 (universal
  statement codes).
- tests/fixtures/scp/*.reference.json: what ecgdatakit's SCPECGParser (an independent SCP-ECG
  reader on PyPI, pinned in requirements-scp.txt) reads from each file: rate, lead names, sample
  counts, the first samples and the sum of every lead in microvolts, the reference beats, the
  patient fields, the cart's rate, axes and statements.
- tests/fixtures/bad/scp/: malformed variants and expected.json (their specific errors).

Run from the repository root:
  python3 -m venv /tmp/venv-scp && /tmp/venv-scp/bin/pip install -r scripts/requirements-scp.txt
  /tmp/venv-scp/bin/python scripts/make_scp_fixtures.py
"""

import binascii
import csv
import json
import os
import struct
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "tests", "fixtures", "scp")
BAD = os.path.join(ROOT, "tests", "fixtures", "bad", "scp")
SAMPLE = os.path.join(ROOT, "assets", "samples", "synthetic_sinus.csv")
RATE = 500
INTERVAL_US = 1_000_000 // RATE
# Section 3 lead codes (EN 1064 Table 14).
LEAD_CODES = {"I": 1, "II": 2, "V1": 3, "V2": 4, "V3": 5, "V4": 6, "V5": 7, "V6": 8,
              "III": 61, "aVR": 62, "aVL": 63, "aVF": 64}
EIGHT = ["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"]
TWELVE = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]


def crc(data):
    """CRC-CCITT: polynomial 0x1021, initial value 0xFFFF (the standard's checksum)."""
    return binascii.crc_hqx(data, 0xFFFF)


def load_sample():
    with open(SAMPLE, newline="") as f:
        rows = list(csv.DictReader(f))
    return {lead: [int(r[f"{lead}_uV"]) for r in rows] for lead in TWELVE}


# --- containers ---------------------------------------------------------------------------


def section(sid, body, version=20, protocol=20):
    reserved = b"SCPECG" if sid == 0 else b"\x00" * 6
    length = 16 + len(body)
    rest = struct.pack("<HIBB", sid, length, version, protocol) + reserved + body
    return struct.pack("<H", crc(rest)) + rest


def record(sections):
    """sections: {id: body bytes}. Section 0 (the pointers) is computed here."""
    ids = sorted(sections)
    # Section 0 lists ids 0-11 (absent ones with length 0) and any present above 11.
    listed = sorted(set(range(12)) | set(ids))
    sec0_len = 16 + 10 * len(listed)
    offsets = {}
    pos = 6 + sec0_len + 1  # 1-based index of the first byte after Section 0
    encoded = {}
    for sid in ids:
        encoded[sid] = section(sid, sections[sid])
        offsets[sid] = pos
        pos += len(encoded[sid])
    pointers = b""
    for sid in listed:
        if sid == 0:
            pointers += struct.pack("<HII", 0, sec0_len, 7)
        elif sid in encoded:
            pointers += struct.pack("<HII", sid, len(encoded[sid]), offsets[sid])
        else:
            pointers += struct.pack("<HII", sid, 0, 0)
    body = section(0, pointers) + b"".join(encoded[sid] for sid in ids)
    size = 6 + len(body)
    rest = struct.pack("<I", size) + body
    return struct.pack("<H", crc(rest)) + rest


# --- Section 1 ---------------------------------------------------------------------------


def tag(number, value):
    return struct.pack("<BH", number, len(value)) + value


def text(s):
    return s.encode("utf-8") + b"\x00"


def device_tag(model, serial, software, manufacturer_code=17, language=0x37):
    fixed = struct.pack("<HHHBB", 11, 22, 33, 0, manufacturer_code)
    fixed += model.encode("ascii").ljust(6, b"\x00")[:6]
    fixed += bytes([20, 0xA0, language, 0x00, 1])  # protocol 2.0, level, language, capability, 50 Hz
    fixed += b"\x00" * (36 - len(fixed))
    strings = b"\x00".join(s.encode("ascii") for s in ["A1", serial, software, "ecgr1-fixtures", ""])
    return tag(14, fixed + strings + b"\x00")


def header(last, first, patient_id, date=(2026, 3, 15), time=(10, 21, 32)):
    body = b""
    body += tag(0, text(last))
    body += tag(1, text(first))
    body += tag(2, text(patient_id))
    body += tag(4, struct.pack("<HB", 64, 1))  # 64 years
    body += tag(5, struct.pack("<HBB", 1961, 5, 2))
    body += tag(8, bytes([2]))  # female
    body += device_tag("AT-10", "SN-4711", "2.3")
    body += tag(25, struct.pack("<HBB", *date))
    body += tag(26, bytes(time))
    body += tag(255, b"")
    return body


# --- Huffman coding ----------------------------------------------------------------------


class BitWriter:
    def __init__(self):
        self.bits = []

    def put(self, value, width):
        for i in range(width - 1, -1, -1):
            self.bits.append((value >> i) & 1)

    def put_code(self, code):
        self.bits.extend(int(b) for b in code)

    def bytes(self):
        bits = self.bits + [0] * (-len(self.bits) % 8)
        return bytes(int("".join(map(str, bits[i:i + 8])), 2) for i in range(0, len(bits), 8))


def default_code(w, v):
    """The standard's default table (EN 1064 Table 8)."""
    if v == 0:
        w.put_code("0")
    elif -8 <= v <= 8:
        m = abs(v)
        w.put_code("1" * m + "0" + ("1" if v < 0 else "0"))
    elif -128 <= v <= 127:
        w.put_code("1111111110")
        w.put(v & 0xFF, 8)
    else:
        w.put_code("1111111111")
        w.put(v & 0xFFFF, 16)


# Two custom tables: (prefix bits, total bits, mode, base value, code as transmitted).
# Mode 1 is a value, mode 0 switches to table `base value`. Total > prefix: the value follows in
# (total - prefix) two's-complement bits.
CUSTOM = [
    [(1, 1, 1, 0, "0"), (3, 3, 1, 1, "100"), (3, 3, 1, -1, "101"), (4, 4, 1, 2, "1100"),
     (4, 4, 1, -2, "1101"), (5, 13, 1, 0, "11100"), (5, 21, 1, 0, "11101"), (4, 4, 0, 2, "1111")],
    [(2, 2, 1, 0, "00"), (2, 2, 1, 1, "01"), (2, 2, 1, -1, "10"), (4, 12, 1, 0, "1100"),
     (4, 20, 1, 0, "1101"), (3, 3, 0, 1, "111")],
]


def custom_code(w, table, v):
    codes = CUSTOM[table]
    for prefix, total, mode, base, code in codes:
        if mode == 1 and total == prefix and base == v:
            w.put_code(code)
            return
    for prefix, total, mode, base, code in sorted(codes, key=lambda c: c[1]):
        extra = total - prefix
        if mode == 1 and extra and -(1 << (extra - 1)) <= v < (1 << (extra - 1)):
            w.put_code(code)
            w.put(v & ((1 << extra) - 1), extra)
            return
    raise ValueError(v)


def switch(w, table):
    for prefix, total, mode, base, code in CUSTOM[table]:
        if mode == 0:
            w.put_code(code)
            return 1 - table
    raise ValueError(table)


def custom_tables_section():
    body = struct.pack("<H", len(CUSTOM))
    for codes in CUSTOM:
        body += struct.pack("<H", len(codes))
        for prefix, total, mode, base, code in codes:
            # The base code is stored bit-reversed: the first transmitted bit in the LSB.
            stored = int(code[::-1], 2)
            body += struct.pack("<BBBhI", prefix, total, mode, base, stored)
    return body


def differences(values, mode):
    if mode == 0:
        return list(values)
    if mode == 1:
        return [values[0]] + [values[i] - values[i - 1] for i in range(1, len(values))]
    return values[:2] + [values[i] - 2 * values[i - 1] + values[i - 2] for i in range(2, len(values))]


def encode_leads(leads, mode, coding):
    """Returns the per-lead byte blocks of Section 5 or 6."""
    blocks = []
    for values in leads:
        d = differences(values, mode)
        if coding == "none":
            blocks.append(b"".join(struct.pack("<h", v) for v in d))
            continue
        w = BitWriter()
        table = 0
        for i, v in enumerate(d):
            if coding == "default":
                default_code(w, v)
            else:
                if i and i % 500 == 0:
                    table = switch(w, table)
                custom_code(w, table, v)
        blocks.append(w.bytes())
    return blocks


def signal_section(avm_nv, mode, flag, blocks):
    body = struct.pack("<HHBB", avm_nv, INTERVAL_US, mode, flag)
    body += b"".join(struct.pack("<H", len(b)) for b in blocks)
    return body + b"".join(blocks)


def lead_section(names, count, flags=0x04 | (8 << 3)):
    body = bytes([len(names), flags])
    for name in names:
        body += struct.pack("<IIB", 1, count, LEAD_CODES[name])
    return body


# --- the cart's reading ------------------------------------------------------------------


def statements_section(statements, universal=False):
    body = bytes([0]) + struct.pack("<HBB", 2026, 3, 15) + bytes([10, 22, 0]) + bytes([len(statements)])
    for i, s in enumerate(statements, 1):
        value = (bytes([1]) if universal else b"") + s.encode("ascii") + b"\x00"
        body += struct.pack("<BH", i, len(value)) + value
    return body


def global_measurements(qrs_count):
    body = bytes([1, 0]) + struct.pack("<HH", 857, 857)
    # P onset, P offset, QRS onset, QRS offset, T offset (ms in the reference beat); axes.
    body += struct.pack("<5H3h", 40, 150, 192, 282, 590, 58, 49, 44)
    body += struct.pack("<H", qrs_count) + bytes([0] * qrs_count)
    body += struct.pack("<HHHB", 70, 70, 428, 1)  # ventricular, atrial rate, QTc (Bazett)
    return body


def lead_measurements(names):
    body = struct.pack("<HH", len(names), 0)
    for k, name in enumerate(names):
        # P dur, PR, QRS, QT, Q dur, R dur, S dur, R' dur, S' dur, Q amp, R amp, S amp, R' amp,
        # S' amp, J amp, P+ amp, P- amp, T+ amp, T- amp, ST slope.
        values = [110, 152, 90, 398, 20, 40, 30, 29999, 29999, -100 - k, 1200 - 50 * k, -250,
                  29999, 29999, 10, 150, 0, 300, 0, 5]
        data = struct.pack(f"<{len(values)}h", *values)
        body += struct.pack("<HH", LEAD_CODES[name], len(data)) + data
    return body


# --- reference-beat subtraction ----------------------------------------------------------

REF_MS = 800
REF_SAMPLES = REF_MS * RATE // 1000
REF_FIDUCIAL = 111  # 1-based sample of the reference beat aligned with each QRS fiducial


def reference_beat_parts(leads, n):
    """Beat fiducials (1-based), the reference beat (mean of whole beats) and the residuals."""
    rr = 60.0 / 70.0
    fiducials = []
    k = 0
    while True:
        fid = int(round((k * rr + 0.22) * RATE)) + 1
        if fid - REF_FIDUCIAL + REF_SAMPLES > n:
            break
        if fid - REF_FIDUCIAL >= 0:
            fiducials.append(fid)
        k += 1
    beats, residuals, zones = [], [], []
    for fid in fiducials:
        zones.append((fid - 40, fid, fid + 60))  # QRS start, fiducial, end
    for values in leads:
        windows = [values[fid - REF_FIDUCIAL: fid - REF_FIDUCIAL + REF_SAMPLES] for fid in fiducials]
        beat = [int(round(sum(w[i] for w in windows) / len(windows))) for i in range(REF_SAMPLES)]
        beats.append(beat)
        residual = list(values)
        for start, fid, end in zones:
            for s in range(start, end + 1):
                residual[s - 1] -= beat[REF_FIDUCIAL - fid + s - 1]
        residuals.append(residual)
    return zones, beats, residuals


def qrs_section(zones):
    body = struct.pack("<HHH", REF_MS, REF_FIDUCIAL, len(zones))
    for start, fid, end in zones:
        body += struct.pack("<HIII", 0, start, fid, end)
    for start, _, end in zones:
        body += struct.pack("<II", start, end)  # protected zones
    return body


# --- the files ---------------------------------------------------------------------------


def counts(sample, names, avm_nv):
    return [[int(round(v * 1000 / avm_nv)) for v in sample[name]] for name in names]


def build(sample):
    n = len(sample["I"])
    files = {}
    plain = counts(sample, EIGHT, 1000)
    files["scp_plain.scp"] = record({
        1: header("Müller", "Anna", "MRN0042"),
        3: lead_section(EIGHT, n),
        6: signal_section(1000, 0, 0, encode_leads(plain, 0, "none")),
    })
    huff = counts(sample, EIGHT, 5000)
    files["scp_huffman.scp"] = record({
        1: header("Dupont", "Jean", "MRN0043"),
        2: struct.pack("<H", 19999),
        3: lead_section(EIGHT, n),
        6: signal_section(5000, 2, 0, encode_leads(huff, 2, "default")),
    })
    twelve = counts(sample, TWELVE, 5000)
    files["scp_custom_tables.scp"] = record({
        1: header("Rossi", "Maria", "MRN0044"),
        2: custom_tables_section(),
        3: lead_section(TWELVE, n, flags=0x04 | (12 << 3)),
        6: signal_section(5000, 1, 0, encode_leads(twelve, 1, "custom")),
    })
    zones, beats, residuals = reference_beat_parts(huff, n)
    files["scp_reference_beat.scp"] = record({
        1: header("Smith", "John", "MRN0045", date=(2026, 4, 1), time=(8, 5, 0)),
        2: struct.pack("<H", 19999),
        3: lead_section(EIGHT, n, flags=0x01 | 0x04 | (8 << 3)),
        4: qrs_section(zones),
        5: signal_section(5000, 1, 0, encode_leads(beats, 1, "default")),
        6: signal_section(5000, 1, 0, encode_leads(residuals, 1, "default")),
        7: global_measurements(len(zones)),
        8: statements_section(["Sinus rhythm", "Normal ECG"]),
        10: lead_measurements(EIGHT),
        11: statements_section(["SR", "NORM"], universal=True),
    })
    return files


# --- the independent reading -------------------------------------------------------------


def reference(path):
    from ecgdatakit.parsing.parsers.scp_ecg import SCPECGParser

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a CRC or structure warning fails the fixture
        rec = SCPECGParser().parse(path)

    def uv(lead):
        factor = lead.resolution if lead.resolution_unit == "uV" else float("nan")
        return [float(s) * factor for s in lead.samples]

    rhythm = {}
    for lead in rec.leads:
        physical = uv(lead)
        rhythm[lead.label] = {
            "first": [round(v, 6) for v in physical[:25]],
            "sum": round(sum(physical), 6),
            "count": len(physical),
            "rate_hz": float(lead.sampling_rate),
            "uv_per_count": lead.resolution,
        }
    median = {}
    for lead in rec.median_beats or []:
        physical = uv(lead)
        median[lead.label] = {"first": [round(v, 6) for v in physical[:25]],
                              "sum": round(sum(physical), 6), "count": len(physical)}
    p = rec.patient
    g = rec.measurements
    return {
        "reader": "ecgdatakit 2.0.3 SCPECGParser",
        "leads": [lead.label for lead in rec.leads],
        "rhythm": rhythm,
        "median": median,
        "patient": {
            "last_name": p.last_name,
            "first_name": p.first_name,
            "id": p.patient_id,
            "birth_date": p.birth_date.date().isoformat() if p.birth_date else None,
            "sex": p.sex,
            "age": p.age,
        },
        "acquisition_time": rec.recording.date.isoformat() if rec.recording.date else None,
        "device": {"manufacturer": rec.recording.device.manufacturer,
                   "model": rec.recording.device.model},
        "heart_rate_bpm": g.heart_rate,
        "axes_deg": [g.p_axis, g.qrs_axis, g.t_axis],
        "statements": [s[0] for s in rec.interpretation.statements] if rec.interpretation else [],
        "universal_statements": rec.raw_metadata.get("universal_statements", []),
        "compression": rec.recording.acquisition.signal.compression,
    }


# --- malformed variants ------------------------------------------------------------------


def fix_crcs(data):
    """Recomputes every section's CRC and the record's, after an edit."""
    data = bytearray(data)
    sec0_len = struct.unpack_from("<I", data, 10)[0]
    for pos in range(22, 6 + sec0_len, 10):
        sid, length, index = struct.unpack_from("<HII", data, pos)
        if length and index and index - 1 + length <= len(data) and sid != 0:
            start = index - 1
            struct.pack_into("<H", data, start, crc(bytes(data[start + 2:start + length])))
    struct.pack_into("<H", data, 6, crc(bytes(data[8:6 + sec0_len])))
    struct.pack_into("<H", data, 0, crc(bytes(data[2:])))
    return bytes(data)


def find_section(data, sid):
    sec0_len = struct.unpack_from("<I", data, 10)[0]
    for pos in range(22, 6 + sec0_len, 10):
        s, length, index = struct.unpack_from("<HII", data, pos)
        if s == sid:
            return pos, index - 1, length
    raise KeyError(sid)


def malformed(files):
    plain = files["scp_plain.scp"]
    huff = files["scp_huffman.scp"]
    ref = files["scp_reference_beat.scp"]
    custom = files["scp_custom_tables.scp"]
    bad = {}

    bad["truncated_record.scp"] = (plain[: len(plain) // 2], "Truncated", "record size")

    b = bytearray(plain)
    b[-1] ^= 0x01  # one bit of the last sample flipped
    bad["bad_record_crc.scp"] = (bytes(b), "Inconsistent", "record CRC")

    b = bytearray(plain)
    _, start, _ = find_section(plain, 6)
    b[start + 40] ^= 0x10
    struct.pack_into("<H", b, 0, crc(bytes(b[2:])))  # record CRC right, section 6's wrong
    bad["bad_section_crc.scp"] = (bytes(b), "Inconsistent", "Section 6 CRC")

    b = bytearray(plain)
    pos, _, _ = find_section(plain, 6)
    struct.pack_into("<I", b, pos + 6, len(plain) - 10)  # section 6 index near the end
    bad["pointer_past_end.scp"] = (fix_crcs(b), "Truncated", "Section 0 pointer to Section 6")

    b = bytearray(plain)
    _, start, _ = find_section(plain, 3)
    b[start + 16] = 0  # zero leads
    bad["zero_leads.scp"] = (fix_crcs(b), "Invalid", "Section 3")

    b = bytearray(huff)
    _, start, _ = find_section(huff, 6)
    b[start + 16 + 4] = 3  # difference encoding 3
    bad["unknown_difference_encoding.scp"] = (fix_crcs(b), "Invalid", "Section 6 difference encoding")

    b = bytearray(custom)
    _, start, _ = find_section(custom, 2)
    struct.pack_into("<H", b, start + 16 + 2, 4000)  # table 1 declares 4000 codes
    bad["huffman_table_overflow.scp"] = (fix_crcs(b), "Truncated", "Section 2")

    b = bytearray(custom)
    _, start, _ = find_section(custom, 2)
    b[start + 16 + 4] = 40  # first code's prefix is 40 bits
    bad["huffman_code_too_long.scp"] = (fix_crcs(b), "Invalid", "Section 2")

    b = bytearray(huff)
    _, start, length = find_section(huff, 6)
    first_size = struct.unpack_from("<H", b, start + 16 + 6)[0]
    data_start = start + 16 + 6 + 2 * 8
    b[data_start: data_start + first_size] = b"\x00" * 8 + b"\xff" * (first_size - 8)  # runs out
    bad["huffman_data_ends.scp"] = (fix_crcs(b), "Truncated", "Section 6 lead 1")

    b = bytearray(ref)
    pos, _, _ = find_section(ref, 5)
    struct.pack_into("<HII", b, pos, 5, 0, 0)  # Section 5 dropped from the pointers
    bad["subtraction_without_reference_beat.scp"] = (fix_crcs(b), "Invalid", "Section 5")

    b = bytearray(huff)
    _, start, _ = find_section(huff, 6)
    struct.pack_into("<H", b, start + 16 + 2, 0)  # sample interval 0
    bad["zero_sample_interval.scp"] = (fix_crcs(b), "Invalid", "Section 6 sample interval")

    b = bytearray(huff)
    _, start, _ = find_section(huff, 6)
    b[start + 16 + 5] = 1  # bimodal compression
    bad["bimodal.scp"] = (fix_crcs(b), "Unsupported", "Section 6 bimodal")

    b = bytearray(plain)
    _, start, _ = find_section(plain, 1)
    struct.pack_into("<H", b, start + 16 + 1, 60000)  # tag 0 length past the section
    bad["tag_past_section.scp"] = (fix_crcs(b), "Truncated", "Section 1 tag 0")

    b = bytearray(plain)
    pos, _, _ = find_section(plain, 6)
    struct.pack_into("<HII", b, pos, 6, 0, 0)
    bad["no_rhythm.scp"] = (fix_crcs(b), "Invalid", "Section 6")

    return bad


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def main():
    os.makedirs(FIX, exist_ok=True)
    os.makedirs(BAD, exist_ok=True)
    files = build(load_sample())
    for name, data in files.items():
        path = os.path.join(FIX, name)
        write(path, data)
        with open(path.replace(".scp", ".reference.json"), "w") as f:
            json.dump(reference(path), f, indent=1, ensure_ascii=False)
            f.write("\n")
    expected = {}
    for name, (data, kind, field) in malformed(files).items():
        write(os.path.join(BAD, name), data)
        expected[name] = {"kind": kind, "field": field}
    with open(os.path.join(BAD, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
