#!/usr/bin/python3
"""Independent decoder for the codec tests: decodes BGP messages with ExaBGP's own parser
(Debian's exabgp 4.2.21) and prints one normalised JSON object per message.

stdin: one message per line, "<asn4|asn2> <hex of the whole message, header included>".
stdout: one JSON line per input line; {"error": "..."} when ExaBGP rejects the message.
"""
import json
import sys

sys.path.insert(0, "/usr/lib/python3/dist-packages")

from exabgp.configuration.setup import environment  # noqa: E402

environment.setup("")

from exabgp.bgp.message import Message  # noqa: E402
from exabgp.bgp.message.direction import Direction  # noqa: E402
from exabgp.bgp.message.keepalive import KeepAlive  # noqa: E402
from exabgp.bgp.message.notification import Notification  # noqa: E402
from exabgp.bgp.message.open import Open  # noqa: E402
from exabgp.bgp.message.open.capability import Capability  # noqa: E402
from exabgp.bgp.message.open.capability.negotiated import Negotiated  # noqa: E402
from exabgp.bgp.message.refresh import RouteRefresh  # noqa: E402
from exabgp.bgp.message.update import Update  # noqa: E402
from exabgp.bgp.message.update.attribute import Attribute  # noqa: E402
from exabgp.protocol.family import AFI, SAFI  # noqa: E402


def negotiated(asn4):
    n = Negotiated(None)
    n.asn4 = asn4
    n.families = [(AFI.ipv4, SAFI.unicast), (AFI.ipv6, SAFI.unicast)]
    return n


def decode_open(body):
    o = Open.unpack_message(body)
    caps = {"mp": [], "route_refresh": False, "enhanced_route_refresh": False, "unknown": []}
    for code, cap in o.capabilities.items():
        if code == Capability.CODE.MULTIPROTOCOL:
            caps["mp"] = sorted([int(a), int(s)] for a, s in cap)
        elif code == Capability.CODE.FOUR_BYTES_ASN:
            caps["asn4"] = int(cap)
        elif code == Capability.CODE.ROUTE_REFRESH:
            caps["route_refresh"] = True
        elif code == Capability.CODE.ENHANCED_ROUTE_REFRESH:
            caps["enhanced_route_refresh"] = True
        elif code == Capability.CODE.GRACEFUL_RESTART:
            caps["graceful"] = {
                "flags": cap.restart_flag,
                "time": cap.restart_time,
                "families": sorted([int(a), int(s), int(f)] for (a, s), f in cap.items()),
            }
        else:
            caps["unknown"].append(int(code))
    caps["unknown"].sort()
    return {"type": "open", "version": int(o.version), "asn": int(o.asn), "hold": int(o.hold_time),
            "router_id": str(o.router_id), "caps": caps}


def decode_update(body, asn4):
    u = Update.unpack_message(body, Direction.IN, negotiated(asn4))
    out = {"type": "update", "announce": [], "withdraw": []}
    if getattr(u, "EOR", False) or type(u).__name__ == "EOR":
        nlri = u.nlris[0]
        out["eor"] = [int(nlri.afi), int(nlri.safi)]
        return out
    next_hops = []
    for nlri in u.nlris:
        key = "announce" if nlri.action == 1 else "withdraw"  # OUT.ANNOUNCE == 1
        out[key].append(nlri.cidr.prefix())
        nh = str(nlri.nexthop).split(" ")[0] if nlri.nexthop is not None else ""
        if key == "announce" and nh not in ("", "no-nexthop") and nh not in next_hops:
            next_hops.append(nh)
    # ExaBGP lists an MP_REACH prefix once per next hop (global and link-local).
    out["announce"] = sorted(set(out["announce"]))
    out["withdraw"] = sorted(set(out["withdraw"]))
    out["next_hops"] = next_hops
    attrs = u.attributes
    code = Attribute.CODE
    if code.INTERNAL_TREAT_AS_WITHDRAW in attrs:
        out["error"] = "treat-as-withdraw"
    elif code.INTERNAL_DISCARD in attrs:
        out["error"] = "attribute-discard"
    if code.ORIGIN in attrs:
        out["origin"] = int(attrs[code.ORIGIN].origin)
    if code.AS_PATH in attrs:
        # ExaBGP 4.2 keeps one list per segment type.
        p = attrs[code.AS_PATH]
        out["as_path"] = {"sequence": [int(a) for a in p.as_seq], "set": [int(a) for a in p.as_set]}
    if code.MED in attrs:
        out["med"] = int(attrs[code.MED].med)
    if code.LOCAL_PREF in attrs:
        out["local_pref"] = int(attrs[code.LOCAL_PREF].localpref)
    if code.COMMUNITY in attrs:
        out["communities"] = [int.from_bytes(c.community, "big") for c in attrs[code.COMMUNITY].communities]
    if code.LARGE_COMMUNITY in attrs:
        out["large_communities"] = [[int(x) for x in str(c).split(":")]
                                    for c in attrs[code.LARGE_COMMUNITY].communities]
    if code.ATOMIC_AGGREGATE in attrs:
        out["atomic_aggregate"] = True
    if code.AGGREGATOR in attrs:
        ag = attrs[code.AGGREGATOR]
        out["aggregator"] = [int(ag.asn), str(ag.speaker)]
    unknown = [int(k) for k in attrs.keys() if int(k) not in (
        1, 2, 3, 4, 5, 6, 7, 8, 14, 15, 17, 18, 32, 0xFFFE, 0xFFFF)]
    if unknown:
        out["unknown"] = sorted(unknown)
    return out


def decode(asn4, raw):
    kind = raw[18]
    body = raw[19:]
    if kind == Open.ID:
        return decode_open(body)
    if kind == Update.ID:
        return decode_update(body, asn4)
    if kind == Notification.ID:
        try:
            n = Notification.unpack_message(body)
            text = n.data.decode("utf-8", "replace")
        except TypeError:
            # ExaBGP 4.2.21 fails formatting a shutdown communication under Python 3; read the
            # fields without its text rendering.
            n = Notification(body[0], body[1], body[2:], parse_data=False)
            text = None
        return {"type": "notification", "code": n.code, "subcode": n.subcode,
                "text": text, "data": bytes(body[2:]).hex()}
    if kind == KeepAlive.ID:
        return {"type": "keepalive"}
    if kind == RouteRefresh.ID:
        r = RouteRefresh.unpack_message(body)
        return {"type": "route_refresh", "afi": int(r.afi), "safi": int(r.safi), "subtype": int(r.reserved)}
    return {"error": "unknown type %d" % kind}


for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    mode, hexmsg = line.split()
    try:
        print(json.dumps(decode(mode == "asn4", bytes.fromhex(hexmsg))), flush=True)
    except Exception as e:  # ExaBGP raises Notify and plain exceptions on bad input
        print(json.dumps({"error": "%s: %s" % (type(e).__name__, e)}), flush=True)
