"""Extract every HIP packet of the pcaps below DIR into OUT (one file each),
as seeds for the hip_packet fuzz target. Standard library only."""
import os
import struct
import sys


def frames(path):
    data = open(path, "rb").read()
    magic = data[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    link = struct.unpack(endian + "I", data[20:24])[0]
    off = 24
    while off + 16 <= len(data):
        incl = struct.unpack(endian + "I", data[off + 8:off + 12])[0]
        yield link, data[off + 16:off + 16 + incl]
        off += 16 + incl


def hip_payload(link, frame):
    ip = frame[14:] if link == 1 else frame
    if not ip:
        return None
    if ip[0] >> 4 == 4:
        ihl = (ip[0] & 15) * 4
        proto, body = ip[9], ip[ihl:]
    elif ip[0] >> 4 == 6:
        proto, body = ip[6], ip[40:]
    else:
        return None
    if proto == 139:
        return body
    if proto == 17 and len(body) > 12 and body[8:12] == b"\0\0\0\0":
        return body[12:]
    return None


def main(src, out):
    n = 0
    for root, _, files in os.walk(src):
        for f in sorted(files):
            if not f.endswith(".pcap"):
                continue
            for link, frame in frames(os.path.join(root, f)):
                hip = hip_payload(link, frame)
                if hip:
                    with open(os.path.join(out, "seed-%04d" % n), "wb") as w:
                        w.write(hip)
                    n += 1
    print("%d HIP packets as seeds" % n)


main(sys.argv[1], sys.argv[2])
