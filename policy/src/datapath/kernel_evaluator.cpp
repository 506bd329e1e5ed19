#include "netagent/policy/kernel_evaluator.hpp"

#include <linux/pkt_cls.h>
#include <netinet/in.h>

#include <boost/asio/io_context.hpp>
#include <cstring>

#include "netagent/datapath/packet.hpp"
#include "netagent/datapath/ring_buffer.hpp"
#include "netagent/datapath/test_run.hpp"

namespace netagent::policy {

struct KernelEvaluator::Events {
  boost::asio::io_context io;
  std::unique_ptr<datapath::RingBufferReader> reader;
  std::vector<PolicyFlowRecord> records;
  size_t undecodable = 0;
};

KernelEvaluator::KernelEvaluator(const CompiledPolicy& cp) : cp_(cp) {}
KernelEvaluator::~KernelEvaluator() = default;

Result<std::unique_ptr<KernelEvaluator>> KernelEvaluator::create(const CompiledPolicy& cp) {
  std::unique_ptr<KernelEvaluator> ke(new KernelEvaluator(cp));
  PolicyDatapathOptions o;
  o.ct_max_entries = 4096;
  o.ring_buffer_bytes = 1 << 16;
  o.kernel_hz = 250;  // one-shot probes never live long enough for lifetimes to matter
  auto dp = PolicyDatapath::load(o);
  if (!dp) return dp.error();
  ke->dp_ = std::move(*dp);
  auto locals = all_endpoints(cp);
  for (const auto& l : locals)
    ke->endpoint_ids_[l.ns + "/" + l.name] = l.endpoint_id;
  if (auto st = ke->dp_->apply(diff(DatapathState{}, datapath_state(cp, locals))); !st) {
    return st.error().wrap("fill the policy maps");
  }
  ke->events_ = std::make_unique<Events>();
  auto* ev = ke->events_.get();
  auto reader = datapath::RingBufferReader::open(ev->io, ke->dp_->events_fd(),
                                                 [ev](std::span<const uint8_t> b) {
                                                   if (auto r = decode_flow_record(b))
                                                     ev->records.push_back(*r);
                                                   else
                                                     ev->undecodable++;
                                                 });
  if (!reader) return reader.error();
  ev->reader = std::move(*reader);
  return ke;
}

namespace {

std::vector<uint8_t> probe_packet(const Flow& f, uint16_t sport) {
  datapath::PacketBuilder b;
  b.ipv4(f.src, f.dst);
  switch (f.proto) {
    case IPPROTO_TCP:
      b.tcp(sport, f.dport, datapath::tcp_flags::SYN);
      break;
    case IPPROTO_UDP:
      b.udp(sport, f.dport);
      break;
    case IPPROTO_ICMP:
      b.icmp_echo(sport, 1);
      break;
    case IPPROTO_SCTP: {
      // RFC 9260 common header (ports, verification tag, checksum) and no chunks.
      std::string h(12, '\0');
      h[0] = char(sport >> 8);
      h[1] = char(sport);
      h[2] = char(f.dport >> 8);
      h[3] = char(f.dport);
      b.proto(IPPROTO_SCTP).payload(h);
      break;
    }
    default:
      b.proto(f.proto);
  }
  return b.build();
}

}  // namespace

Result<DirectionDecision> KernelEvaluator::run(const EndpointInfo& ep, uint32_t endpoint_id,
                                               Direction dir, const Flow& f) {
  const uint16_t sport = next_sport_;
  next_sport_ = next_sport_ >= 60000 ? 20000 : uint16_t(next_sport_ + 1);
  auto pkt = probe_packet(f, sport);
  events_->records.clear();
  int fd = dir == Direction::Egress ? dp_->from_endpoint_fd() : dp_->to_endpoint_fd();
  auto res = datapath::test_run(fd, pkt);
  if (!res) return res.error();
  events_->reader->poll_now();

  // The connection this probe may have opened must not answer the next one.
  policy_ct_key ck{};
  ck.saddr = f.src.to_be();
  ck.daddr = f.dst.to_be();
  if (f.proto == IPPROTO_TCP || f.proto == IPPROTO_UDP || f.proto == IPPROTO_SCTP) {
    ck.sport = htons(sport);
    ck.dport = htons(f.dport);
  } else if (f.proto == IPPROTO_ICMP) {
    ck.sport = htons(sport);
  }
  ck.proto = f.proto;
  ck.direction = uint8_t(dir);
  ck.endpoint_id = endpoint_id;
  if (auto st = dp_->conntrack().remove(ck); !st) return st.error();

  DirectionDecision d;
  d.endpoint = &ep;
  const Ipv4Addr peer = dir == Direction::Egress ? f.dst : f.src;
  d.peer_identity = identity::kWorld;
  if (const auto* ic = cp_.ipcache_lookup(peer)) {
    d.peer_identity = ic->identity;
    d.peer_cidr_identity = ic->cidr_identity;
  }
  const bool dropped = res->retval == TC_ACT_SHOT;
  if (!dropped && res->retval != TC_ACT_OK) {
    return Error{"policy program returned " + std::to_string(res->retval)};
  }
  if (events_->records.size() > 1 || events_->undecodable) {
    return Error{"policy program wrote " + std::to_string(events_->records.size()) +
                 " records for one packet"};
  }
  if (events_->records.empty()) {
    if (dropped) return Error{"policy program dropped a packet without a flow record"};
    return d;  // not policed in this direction
  }
  const auto& r = events_->records.front();
  const flow_event& ev = r.event;
  if (ev.direction != uint8_t(dir) || ev.endpoint_id != endpoint_id) {
    return Error{"flow record for the wrong direction or endpoint"};
  }
  if (ev.type == FLOW_EVENT_DROP) {
    if (!dropped) return Error{"drop record for a packet that passed"};
    d.verdict = Verdict::Denied;
  } else if (ev.type == FLOW_EVENT_POLICY_VERDICT) {
    if (dropped) return Error{"verdict record for a dropped packet"};
    d.verdict = ev.verdict == FLOW_VERDICT_AUDIT ? Verdict::Audited : Verdict::Allowed;
  } else {
    return Error{"unexpected flow record type " + std::to_string(ev.type)};
  }
  d.peer_identity = dir == Direction::Egress ? ev.dst_identity : ev.src_identity;
  d.match_type = ev.match_type;
  d.rule = r.rule;
  d.drop_reason = ev.drop_reason;
  return d;
}

Result<FlowDecision> KernelEvaluator::decide(const Flow& f) {
  FlowDecision out;
  if (const auto* src = cp_.endpoint_at(f.src)) {
    auto d = run(*src, endpoint_ids_.at(src->key()), Direction::Egress, f);
    if (!d) return d.error();
    out.egress = *d;
  }
  if (const auto* dst = cp_.endpoint_at(f.dst)) {
    auto d = run(*dst, endpoint_ids_.at(dst->key()), Direction::Ingress, f);
    if (!d) return d.error();
    out.ingress = *d;
  }
  return out;
}

Result<Reachability> KernelEvaluator::matrix(uint16_t port, uint8_t proto) {
  std::vector<const EndpointInfo*> eps;
  std::vector<std::string> names;
  for (const auto& e : cp_.endpoints) {
    if (e.ips.empty()) continue;
    eps.push_back(&e);
    names.push_back(e.key());
  }
  Reachability r(names, false);
  for (size_t i = 0; i < eps.size(); ++i) {
    for (size_t j = 0; j < eps.size(); ++j) {
      auto d = decide(Flow{eps[i]->ips.front(), eps[j]->ips.front(), proto, port});
      if (!d) return d.error().wrap(names[i] + " -> " + names[j]);
      r.set(i, j, d->allowed());
    }
  }
  return r;
}

}  // namespace netagent::policy
