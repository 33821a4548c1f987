/*
 * Hearth guest agent (busybox init ::respawn). Reads the VM's identity from MMDS version 2 and
 * applies it: address/prefix/gateway and MAC of eth0, hostname, DNS servers (/etc/resolv.conf ->
 * /run/resolv.conf), and mixes the metadata's entropy seed into the kernel's random pool. It does
 * so at boot and again whenever the metadata changes (a clone restored from a snapshot gets its
 * own); metadata that changed only in its entropy seed (the same VM restored in place) is only
 * mixed into the random pool.
 *
 * One process that starts nothing: under emulation (QEMU without KVM) a guest restored from a
 * snapshot runs every piece of code for the first time again, and a process started then (a fork,
 * an exec, a new address space) cost a clone's guest most of the time it took to take its
 * identity (docs/adr/0068). This program is in the snapshot already, and does with system calls
 * what `nc`, `ip` and `arping` did: the MMDS connection is its own socket, addresses and routes
 * are set over rtnetlink, the MAC with an ioctl, the address announced with one ARP packet.
 *
 * How a change is seen, cheaply: the agent keeps one HTTP/1.1 connection to MMDS open and asks it
 * five times a second for hearth/entropy-seed, which the host makes new at every PUT of the
 * metadata (every two seconds where the VMM reports a move, below: the poll is then a fallback). A restore is seen at the next poll: the restored VMM (a new process) knows no
 * connection from before, so it resets this one; the agent reconnects at once, takes a new token
 * (tokens die with their VMM) and reads the whole metadata on the new connection.
 *
 * A restore is seen sooner where the VMM says so: a VMM whose virtio-net offers the guest announce
 * (QEMU does, after an incoming migration; Firecracker v1.16 does not) makes the guest's kernel
 * notify its peers, and rtnetlink reports that as IFLA_EVENT_NOTIFY_PEERS. The agent waits between
 * polls on that report: it leaves the connection from before the restore without asking on it
 * and reads the metadata on a new one at once (docs/adr/0097).
 *
 * MMDS: under Firecracker, 169.254.169.254 answers on eth0 itself; under the Firecracker double's
 * QEMU backend, on a NIC of its own with the MAC below. Each applied identity is printed on the
 * console as HEARTH-GUEST-IDENTITY and served by httpd as /identity.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MMDS_IP "169.254.169.254"
#define MMDS_PORT 80
#define MMDS_NIC_MAC "06:01:23:45:67:02"
#define MMDS_NIC_ADDR "169.254.0.1"
#define DEV "eth0"
/* Between two polls of the seed: a restore is seen within this. A build may set another (a test). */
#ifndef POLL_MS
#define POLL_MS 200
#endif
/* Between two polls where the VMM reports a move itself (below): the poll is then a fallback only,
   and a guest at rest wakes its VMM and the host a tenth as often. */
#ifndef ANNOUNCED_POLL_MS
#define ANNOUNCED_POLL_MS 2000
#endif
/* VIRTIO_NET_F_GUEST_ANNOUNCE: a VMM that offers it makes the guest's kernel report a move. The
   kernel writes the features DEV's driver negotiated as a bitstring (bit i at index i). A build may
   read another file (a test). */
#define GUEST_ANNOUNCE_BIT 21
#ifndef FEATURES_PATH
#define FEATURES_PATH "/sys/class/net/" DEV "/device/features"
#endif
/* Reports of a move less than this apart are one move: its VMM repeats the announce (QEMU five
   times, 50 to 350 ms apart). A build may set another (a test). */
#ifndef MOVE_REPORTS_MS
#define MOVE_REPORTS_MS 1000
#endif
/* MMDS answers in well under a second; a guest starved of CPU may take longer. */
#define TIMEOUT_MS 10000
/* The connect's timeout (a VM without MMDS: nothing answers). */
#define CONNECT_MS 3000
/* The metadata is about 700 bytes; an answer larger than this is refused. */
#define ANSWER_MAX 65536
#define VALUE_MAX 256

static int conn = -1;
static long long conn_opened_ms;
/* When the report socket was last found empty, and the last report read came after this instant. */
static long long reports_empty_ms = -1;
static long long report_after_ms = -1;
/* When the last report of a move was read, and when the move's first one was (-1: none yet). */
static long long last_report_ms = -1;
static long long move_began_ms = -1;
static int link_events = -1;
static char rbuf[ANSWER_MAX];
static size_t rlen;
static int status;
static char body[ANSWER_MAX];
static char token[VALUE_MAX];
static char md[ANSWER_MAX];
static char last[ANSWER_MAX];
static char seen[VALUE_MAX + 8];
static char addr[VALUE_MAX * 2 + 2]; /* the address of DEV this agent knows, a.b.c.d/prefix */
static char gw_set[VALUE_MAX];
static char dns_set[1024];
static int promote;

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pause_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* Reads a small file's first line (no newline) into out; returns 0 on success. */
static int read_line(const char *path, char *out, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, out, cap - 1);
  close(fd);
  if (n < 0) return -1;
  out[n] = 0;
  out[strcspn(out, "\n")] = 0;
  return 0;
}

static int write_file(const char *path, const char *text, int flags) {
  int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY | flags, 0644);
  if (fd < 0) return -1;
  size_t len = strlen(text), off = 0;
  while (off < len) {
    ssize_t n = write(fd, text + off, len - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close(fd);
      return -1;
    }
    off += (size_t)n;
  }
  return close(fd);
}

/* ------------------------------------------------------------------ MMDS over one connection */

static void conn_close(void) {
  if (conn >= 0) close(conn);
  conn = -1;
  rlen = 0;
  token[0] = 0;
}

/* Waits until fd is ready for events or the deadline passes; 1 ready, 0 not. */
static int wait_fd(int fd, short events, long long deadline) {
  for (;;) {
    long long left = deadline - now_ms();
    if (left <= 0) return 0;
    struct pollfd p = {fd, events, 0};
    int r = poll(&p, 1, (int)left);
    if (r > 0) return 1;
    if (r < 0 && errno != EINTR) return 0;
  }
}

static int conn_open(void) {
  conn_close();
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(MMDS_PORT)};
  inet_pton(AF_INET, MMDS_IP, &sa.sin_addr);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    int err = 0;
    socklen_t len = sizeof err;
    if (errno != EINPROGRESS || !wait_fd(fd, POLLOUT, now_ms() + CONNECT_MS) ||
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
      close(fd);
      return -1;
    }
  }
  conn = fd;
  conn_opened_ms = now_ms();
  return 0;
}

/* Reads more of the answer into rbuf; -1 on end, error or timeout. */
static int fill(long long deadline) {
  for (;;) {
    if (rlen >= sizeof rbuf) return -1;
    ssize_t n = recv(conn, rbuf + rlen, sizeof rbuf - rlen, 0);
    if (n > 0) {
      rlen += (size_t)n;
      return 0;
    }
    if (n == 0) return -1;
    if (errno == EINTR) continue;
    if (errno != EAGAIN || !wait_fd(conn, POLLIN, deadline)) return -1;
  }
}

/*
 * Sends one request (its request line and headers, CRLF separated, without the final empty line)
 * on the connection and reads the answer into status and body. -1 on anything but a whole answer
 * (no connection, a reset, a timeout, a bad answer).
 */
static int request(const char *head) {
  char req[1024];
  status = 0;
  body[0] = 0;
  if (conn < 0) return -1;
  int len = snprintf(req, sizeof req, "%s\r\nHost: %s\r\nAccept: application/json\r\n\r\n", head, MMDS_IP);
  if (len < 0 || (size_t)len >= sizeof req) return -1;
  long long deadline = now_ms() + TIMEOUT_MS;
  for (int off = 0; off < len;) {
    ssize_t n = send(conn, req + off, (size_t)(len - off), MSG_NOSIGNAL);
    if (n > 0) {
      off += (int)n;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN && wait_fd(conn, POLLOUT, deadline)) {
      continue;
    } else {
      return -1;
    }
  }
  char *end;
  while ((end = memmem(rbuf, rlen, "\r\n\r\n", 4)) == NULL) {
    if (fill(deadline) != 0) return -1;
  }
  size_t head_len = (size_t)(end - rbuf) + 4;
  if (head_len < 12 || strncmp(rbuf, "HTTP/1.", 7) != 0 || rbuf[8] != ' ') return -1;
  for (int i = 9; i < 12; i++) {
    if (rbuf[i] < '0' || rbuf[i] > '9') return -1;
    status = status * 10 + (rbuf[i] - '0');
  }
  long content = 0;
  for (char *line = memchr(rbuf, '\n', head_len); line != NULL && line + 1 < end;
       line = memchr(line + 1, '\n', (size_t)(end - line - 1))) {
    if (strncasecmp(line + 1, "content-length:", 15) == 0) {
      char *v = line + 16, *stop;
      while (*v == ' ') v++;
      content = strtol(v, &stop, 10);
      if (stop == v || (*stop != '\r' && *stop != ' ') || content < 0) return -1;
    }
  }
  if ((size_t)content >= sizeof body || head_len + (size_t)content > sizeof rbuf) return -1;
  while (rlen < head_len + (size_t)content) {
    if (fill(deadline) != 0) return -1;
  }
  memcpy(body, rbuf + head_len, (size_t)content);
  body[content] = 0;
  rlen -= head_len + (size_t)content;
  memmove(rbuf, rbuf + head_len + (size_t)content, rlen);
  return 0;
}

static int new_token(void) {
  if (request("PUT /latest/api/token HTTP/1.1\r\nX-metadata-token-ttl-seconds: 21600") != 0 || status != 200 ||
      body[0] == 0 || strlen(body) >= sizeof token || strpbrk(body, "\r\n") != NULL) {
    return -1;
  }
  strcpy(token, body);
  return 0;
}

static int get(const char *path) {
  char head[512];
  snprintf(head, sizeof head, "GET /%s HTTP/1.1\r\nX-metadata-token: %s", path, token);
  return request(head);
}

/* ------------------------------------------------------------------ the metadata's fields */

/* The value of the first "name":"..." or "name":number in json; "" when there is none. */
static void field(const char *json, const char *name, char *out, size_t cap) {
  char pattern[64];
  snprintf(pattern, sizeof pattern, "\"%s\":", name);
  out[0] = 0;
  const char *v = strstr(json, pattern);
  if (v == NULL) return;
  v += strlen(pattern);
  size_t n;
  if (*v == '"') {
    v++;
    n = strcspn(v, "\"");
  } else {
    n = strspn(v, "0123456789");
  }
  if (n >= cap) n = cap - 1;
  memcpy(out, v, n);
  out[n] = 0;
}

/* The "dns-servers" array of json, space separated. */
static void dns_servers(const char *json, char *out, size_t cap) {
  out[0] = 0;
  const char *v = strstr(json, "\"dns-servers\":[");
  if (v == NULL) return;
  v += strlen("\"dns-servers\":[");
  size_t used = 0;
  while (*v != 0 && *v != ']') {
    size_t n = strcspn(v, ",]");
    const char *s = v;
    size_t k = n;
    if (k > 0 && *s == '"') s++, k--;
    if (k > 0 && s[k - 1] == '"') k--;
    if (used + k + 2 > cap) break;
    if (used > 0) out[used++] = ' ';
    memcpy(out + used, s, k);
    used += k;
    out[used] = 0;
    v += n;
    if (*v == ',') v++;
  }
}

/* ------------------------------------------------------------------ the network, by system calls */

static int inet_fd(void) {
  static int fd = -1;
  if (fd < 0) fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  return fd;
}

static int link_flags(const char *dev, int up) {
  struct ifreq ifr = {0};
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", dev);
  if (ioctl(inet_fd(), SIOCGIFFLAGS, &ifr) != 0) return -1;
  if (up) {
    if (ifr.ifr_flags & IFF_UP) return 0;
    ifr.ifr_flags |= IFF_UP;
  } else {
    ifr.ifr_flags &= ~IFF_UP;
  }
  return ioctl(inet_fd(), SIOCSIFFLAGS, &ifr);
}

static int set_mac(const char *dev, const char *text) {
  struct ifreq ifr = {0};
  unsigned int b[6];
  char extra;
  if (sscanf(text, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &extra) != 6) return -1;
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", dev);
  ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
  for (int i = 0; i < 6; i++) ifr.ifr_hwaddr.sa_data[i] = (char)b[i];
  return ioctl(inet_fd(), SIOCSIFHWADDR, &ifr);
}

/* One rtnetlink request, answered by an acknowledgement: 0, or -1 with errno set. */
static int rtnl(struct nlmsghdr *msg) {
  static int fd = -1;
  static unsigned int seq;
  if (fd < 0) fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return -1;
  msg->nlmsg_seq = ++seq;
  msg->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  if (sendto(fd, msg, msg->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) return -1;
  char answer[4096];
  for (;;) {
    ssize_t n = recv(fd, answer, sizeof answer, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    for (struct nlmsghdr *h = (struct nlmsghdr *)answer; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_seq != seq || h->nlmsg_type != NLMSG_ERROR) continue;
      int error = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
      if (error == 0) return 0;
      errno = -error;
      return -1;
    }
  }
}

struct nlreq {
  struct nlmsghdr h;
  union {
    struct ifaddrmsg ifa;
    struct rtmsg rt;
  };
  char attrs[256];
};

static void add_attr(struct nlreq *r, unsigned short type, const void *data, unsigned short len) {
  struct rtattr *a = (struct rtattr *)((char *)&r->h + NLMSG_ALIGN(r->h.nlmsg_len));
  a->rta_type = type;
  a->rta_len = (unsigned short)RTA_LENGTH(len);
  memcpy(RTA_DATA(a), data, len);
  r->h.nlmsg_len = NLMSG_ALIGN(r->h.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

/* Parses a.b.c.d/prefix; 0 on success. */
static int parse_cidr(const char *text, struct in_addr *ip, int *prefix) {
  char copy[32];
  snprintf(copy, sizeof copy, "%s", text);
  char *slash = strchr(copy, '/');
  if (slash == NULL) return -1;
  *slash = 0;
  char *stop;
  long p = strtol(slash + 1, &stop, 10);
  if (*stop != 0 || p < 0 || p > 32 || inet_pton(AF_INET, copy, ip) != 1) return -1;
  *prefix = (int)p;
  return 0;
}

/* ip addr add|del CIDR dev DEV */
static int address(int add, const char *cidr, const char *dev) {
  struct in_addr ip;
  int prefix;
  unsigned int index = if_nametoindex(dev);
  if (index == 0 || parse_cidr(cidr, &ip, &prefix) != 0) return -1;
  struct nlreq r = {0};
  r.h.nlmsg_len = NLMSG_LENGTH(sizeof r.ifa);
  r.h.nlmsg_type = add ? RTM_NEWADDR : RTM_DELADDR;
  r.h.nlmsg_flags = add ? NLM_F_CREATE | NLM_F_EXCL : 0;
  r.ifa.ifa_family = AF_INET;
  r.ifa.ifa_prefixlen = (unsigned char)prefix;
  r.ifa.ifa_scope = RT_SCOPE_UNIVERSE;
  r.ifa.ifa_index = index;
  add_attr(&r, IFA_LOCAL, &ip, sizeof ip);
  add_attr(&r, IFA_ADDRESS, &ip, sizeof ip);
  return rtnl(&r.h);
}

/* ip route replace DST/DST_LEN [via GW] dev DEV (the default route when dst_len is 0) */
static int route_replace(const char *dst, int dst_len, const char *gw, const char *dev) {
  struct in_addr d, g;
  unsigned int index = if_nametoindex(dev);
  if (index == 0) return -1;
  struct nlreq r = {0};
  r.h.nlmsg_len = NLMSG_LENGTH(sizeof r.rt);
  r.h.nlmsg_type = RTM_NEWROUTE;
  r.h.nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE;
  r.rt.rtm_family = AF_INET;
  r.rt.rtm_dst_len = (unsigned char)dst_len;
  r.rt.rtm_table = RT_TABLE_MAIN;
  r.rt.rtm_protocol = RTPROT_BOOT;
  r.rt.rtm_scope = gw != NULL ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
  r.rt.rtm_type = RTN_UNICAST;
  if (dst_len > 0) {
    if (inet_pton(AF_INET, dst, &d) != 1) return -1;
    add_attr(&r, RTA_DST, &d, sizeof d);
  }
  if (gw != NULL) {
    if (inet_pton(AF_INET, gw, &g) != 1) return -1;
    add_attr(&r, RTA_GATEWAY, &g, sizeof g);
  }
  add_attr(&r, RTA_OIF, &index, sizeof index);
  return rtnl(&r.h);
}

/* Whether the main table's default route goes through gw on DEV (/proc/net/route: hexadecimal). */
static int has_default_via(const char *gw) {
  struct in_addr want;
  if (inet_pton(AF_INET, gw, &want) != 1) return 0;
  FILE *f = fopen("/proc/net/route", "re");
  if (f == NULL) return 0;
  char line[256], dev[IFNAMSIZ + 1];
  unsigned int dst, via;
  int found = 0;
  while (!found && fgets(line, sizeof line, f) != NULL) {
    if (sscanf(line, "%16s %x %x", dev, &dst, &via) == 3 && strcmp(dev, DEV) == 0 && dst == 0 &&
        via == want.s_addr) {
      found = 1;
    }
  }
  fclose(f);
  return found;
}

/* arping -U: one unsolicited ARP request for ip from DEV, so that neighbours learn its new MAC. */
static void announce(const char *ip_text) {
  struct in_addr ip;
  unsigned int index = if_nametoindex(DEV);
  struct ifreq ifr = {0};
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", DEV);
  if (index == 0 || inet_pton(AF_INET, ip_text, &ip) != 1 || ioctl(inet_fd(), SIOCGIFHWADDR, &ifr) != 0) return;
  int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ARP));
  if (fd < 0) return;
  struct sockaddr_ll to = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ARP), .sll_ifindex = (int)index,
                           .sll_halen = ETH_ALEN};
  memset(to.sll_addr, 0xff, ETH_ALEN);
  unsigned char packet[28];
  struct arphdr *a = (struct arphdr *)packet;
  a->ar_hrd = htons(ARPHRD_ETHER);
  a->ar_pro = htons(ETH_P_IP);
  a->ar_hln = ETH_ALEN;
  a->ar_pln = 4;
  a->ar_op = htons(ARPOP_REQUEST);
  memcpy(packet + 8, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
  memcpy(packet + 14, &ip, 4);
  memset(packet + 18, 0xff, ETH_ALEN);
  memcpy(packet + 24, &ip, 4);
  sendto(fd, packet, sizeof packet, MSG_DONTWAIT, (struct sockaddr *)&to, sizeof to);
  close(fd);
}

/* The first IPv4 address of DEV as a.b.c.d/prefix, or "". */
static void current_address(char *out, size_t cap) {
  struct ifreq ifr = {0};
  out[0] = 0;
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", DEV);
  if (ioctl(inet_fd(), SIOCGIFADDR, &ifr) != 0) return;
  struct in_addr ip = ((struct sockaddr_in *)&ifr.ifr_addr)->sin_addr;
  if (ioctl(inet_fd(), SIOCGIFNETMASK, &ifr) != 0) return;
  int prefix = __builtin_popcount(((struct sockaddr_in *)&ifr.ifr_netmask)->sin_addr.s_addr);
  char text[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &ip, text, sizeof text);
  snprintf(out, cap, "%s/%d", text, prefix);
}

/* MMDS on the NIC with MMDS_NIC_MAC (the double's QEMU backend) when there is one, else on DEV. */
static void mmds_route(void) {
  DIR *d = opendir("/sys/class/net");
  struct dirent *e;
  while (d != NULL && (e = readdir(d)) != NULL) {
    char path[300], mac[32];
    if (e->d_name[0] == '.') continue;
    snprintf(path, sizeof path, "/sys/class/net/%s/address", e->d_name);
    if (read_line(path, mac, sizeof mac) == 0 && strcmp(mac, MMDS_NIC_MAC) == 0) {
      link_flags(e->d_name, 1);
      address(1, MMDS_NIC_ADDR "/16", e->d_name);
      closedir(d);
      return;
    }
  }
  if (d != NULL) closedir(d);
  route_replace(MMDS_IP, 32, NULL, DEV);
}

/* ------------------------------------------------------------------ the VM moved: the kernel's report */

/* Subscribes to the kernel's link reports; without them the agent only polls. */
static void watch_link_events(void) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
  struct sockaddr_nl groups = {.nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK};
  if (fd >= 0 && bind(fd, (struct sockaddr *)&groups, sizeof groups) != 0) {
    close(fd);
    fd = -1;
  }
  link_events = fd;
}

/*
 * Reads every pending link report; 1 when one of them asks the guest to notify its peers (or when
 * reports were lost: one of them may have). Only the kernel and processes with CAP_NET_ADMIN send
 * to this group, and a report costs at most a new MMDS connection.
 */
static int moved(void) {
  static char buf[16384];
  long long after = reports_empty_ms;
  int found = 0;
  for (;;) {
    ssize_t n = recv(link_events, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == ENOBUFS) {
      found = 1;
      continue;
    }
    if (n <= 0) {
      reports_empty_ms = now_ms();
      if (found) report_after_ms = after;
      return found;
    }
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type != RTM_NEWLINK) continue;
      struct ifinfomsg *ifi = NLMSG_DATA(h);
      int len = (int)IFLA_PAYLOAD(h);
      for (struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        if (a->rta_type == IFLA_EVENT && RTA_PAYLOAD(a) >= sizeof(unsigned int) &&
            *(unsigned int *)RTA_DATA(a) == IFLA_EVENT_NOTIFY_PEERS) {
          found = 1;
        }
      }
    }
  }
}

/* 1 when DEV's virtio-net negotiated the guest announce and the reports can be read: its VMM
   reports a move. */
static int announces_moves(void) {
  char bits[160];
  if (link_events < 0 || read_line(FEATURES_PATH, bits, sizeof bits) != 0) return 0;
  return strlen(bits) > GUEST_ANNOUNCE_BIT && bits[GUEST_ANNOUNCE_BIT] == '1';
}

/* Waits ms, or less when the kernel reports that the VM moved; 1 then, else 0. */
static int wait_ms(long ms) {
  if (link_events < 0) {
    pause_ms(ms);
    return 0;
  }
  long long deadline = now_ms() + ms;
  for (;;) {
    long long left = deadline - now_ms();
    if (left <= 0) {
      reports_empty_ms = now_ms();
      return 0;
    }
    struct pollfd p = {link_events, POLLIN, 0};
    int r = poll(&p, 1, (int)left);
    if (r > 0 && moved()) return 1;
    if (r < 0 && errno != EINTR) {
      pause_ms((long)left);
      return 0;
    }
  }
}

/*
 * A report that the VM moved has come. Restored under a new VMM, the connection from before is
 * dead, and asking on it would only fetch its reset: it is closed. One opened since the first
 * report of this move (its VMM repeats the announce) is kept. What tells them apart is when the
 * move's reports began, not the connection's age: a snapshot taken within a second of the
 * connection's opening (a VM cloned as soon as it is up) still leaves a dead one (docs/adr/0110).
 * A report is of the same move when it may have come within MOVE_REPORTS_MS of the one before:
 * reports wait in their socket while the agent is busy (a guest short of CPU may take over a second
 * to apply its identity), so it is told by when the socket was last seen empty, not by when the
 * report is read.
 */
static void moved_now(void) {
  long long now = now_ms();
  if (last_report_ms < 0 || report_after_ms - last_report_ms > MOVE_REPORTS_MS) move_began_ms = now;
  last_report_ms = now;
  if (conn >= 0 && conn_opened_ms < move_began_ms) conn_close();
}

/* ------------------------------------------------------------------ applying an identity */

/*
 * Whether two metadata documents differ at most in the entropy seed's value: the same VM restored
 * in place, whose identity the guest holds already. A guest seen for the first time has none.
 */
static int same_but_seed(const char *a, const char *b) {
  static const char key[] = "\"entropy-seed\":\"";
  const char *ka = strstr(a, key), *kb = strstr(b, key);
  if (ka == NULL || kb == NULL || ka - a != kb - b || strncmp(a, b, (size_t)(ka - a)) != 0) return 0;
  ka += sizeof key - 1;
  kb += sizeof key - 1;
  return strcmp(ka + strcspn(ka, "\""), kb + strcspn(kb, "\"")) == 0;
}

/* Mixes the metadata's entropy seed into the kernel's random pool. */
static void reseed(const char *json) {
  char seed[VALUE_MAX];
  field(json, "entropy-seed", seed, sizeof seed);
  if (seed[0] != 0) write_file("/dev/urandom", seed, 0);
}

static void apply(void) {
  char ip4[VALUE_MAX], mac[VALUE_MAX], host[VALUE_MAX], prefix[VALUE_MAX], gw[VALUE_MAX];
  char id[VALUE_MAX], dns[1024], cur[VALUE_MAX], text[2048];
  field(md, "local-ipv4", ip4, sizeof ip4);
  field(md, "mac", mac, sizeof mac);
  field(md, "hostname", host, sizeof host);
  field(md, "ipv4-prefix-length", prefix, sizeof prefix);
  field(md, "gateway", gw, sizeof gw);
  field(md, "instance-id", id, sizeof id);
  dns_servers(md, dns, sizeof dns);
  reseed(md);
  if (gethostname(cur, sizeof cur) != 0) cur[0] = 0;
  if (host[0] != 0 && strcmp(cur, host) != 0 && sethostname(host, strlen(host)) == 0) snprintf(cur, sizeof cur, "%s", host);
  snprintf(host, sizeof host, "%s", cur);

  if (read_line("/sys/class/net/" DEV "/address", cur, sizeof cur) != 0) cur[0] = 0;
  if (mac[0] != 0 && strcmp(cur, mac) != 0 && set_mac(DEV, mac) != 0) {
    /* a NIC that cannot change its MAC while up */
    link_flags(DEV, 0);
    set_mac(DEV, mac);
    link_flags(DEV, 1);
  }
  char want[VALUE_MAX * 2 + 2];
  snprintf(want, sizeof want, "%s/%s", ip4, prefix);
  if (ip4[0] != 0 && prefix[0] != 0 && strcmp(addr, want) != 0) {
    if (promote) {
      /* The new address first: with promote_secondaries, removing the old one then keeps the new
         one and every route through DEV. */
      if (address(1, want, DEV) == 0 && addr[0] != 0) address(0, addr, DEV);
    } else {
      /* Removing the last address removes the routes through it: the gateway is set again below. */
      if (addr[0] != 0) address(0, addr, DEV);
      address(1, want, DEV);
      gw_set[0] = 0;
    }
    snprintf(addr, sizeof addr, "%s", want);
  }
  if (ip4[0] != 0) link_flags(DEV, 1);
  if (gw[0] != 0 && (strcmp(gw, gw_set) != 0 || !has_default_via(gw)) && route_replace(NULL, 0, gw, DEV) == 0) {
    snprintf(gw_set, sizeof gw_set, "%s", gw);
  }
  if (ip4[0] != 0) announce(ip4);
  struct stat st;
  if (strcmp(dns, dns_set) != 0 || stat("/run/resolv.conf", &st) != 0) {
    size_t used = 0;
    text[0] = 0;
    for (char *s = dns, *next; *s != 0; s = next) {
      next = s + strcspn(s, " ");
      used += (size_t)snprintf(text + used, sizeof text - used, "nameserver %.*s\n", (int)(next - s), s);
      if (used >= sizeof text) break;
      if (*next == ' ') next++;
    }
    if (write_file("/run/resolv.conf.new", text, O_CREAT | O_TRUNC) == 0) rename("/run/resolv.conf.new", "/run/resolv.conf");
    snprintf(dns_set, sizeof dns_set, "%s", dns);
  }
  if (read_line("/sys/class/net/" DEV "/address", cur, sizeof cur) != 0) cur[0] = 0;
  /* /var/www/index.html is a symlink to this file (made by rcS at boot). */
  snprintf(text, sizeof text, "<!doctype html>\n<title>hearth guest %s</title>\n<p>HEARTH-GUEST-OK host=%s addr=%s</p>\n",
           host, host, addr);
  write_file("/run/index.html", text, O_CREAT | O_TRUNC);
  snprintf(text, sizeof text, "instance-id=%s host=%s addr=%s mac=%s\n", id, host, addr, cur);
  write_file("/run/identity", text, O_CREAT | O_TRUNC);
  snprintf(text, sizeof text, "HEARTH-GUEST-IDENTITY instance-id=%s host=%s addr=%s\n", id, host, addr);
  write_file("/dev/console", text, O_APPEND);
}

/* One cheap question on the open connection; the whole metadata (and its identity applied) only
   when the seed changed or the connection is new. 0 on success. */
static int poll_mmds(void) {
  char key[sizeof seen];
  key[0] = 0;
  if (conn >= 0 && token[0] != 0 && get("latest/meta-data/hearth/entropy-seed") == 0) {
    if (status == 200 || status == 404) {
      snprintf(key, sizeof key, "%d:%.*s", status, VALUE_MAX, body);
      if (strcmp(key, seen) == 0) return 0;
    } else if (status == 401) {
      token[0] = 0; /* expired: a new one on the same connection */
    } else {
      return -1;
    }
  } else if (conn_open() != 0) {
    /* none yet, or a connection from before a restore (the new VMM resets it) */
    return -1;
  }
  if (token[0] == 0 && new_token() != 0) return -1;
  if (get("latest/meta-data") != 0 || status != 200) return -1;
  snprintf(md, sizeof md, "%s", body);
  if (strcmp(md, last) != 0) {
    /* Restored in place, the guest keeps its identity: its random pool alone needs the new seed,
       and it goes on answering as itself without the work of applying it again (docs/adr/0099). */
    if (same_but_seed(md, last))
      reseed(md);
    else
      apply();
    memcpy(last, md, sizeof last);
  }
  if (key[0] != 0) {
    memcpy(seen, key, sizeof seen);
  } else {
    char v[VALUE_MAX];
    field(md, "entropy-seed", v, sizeof v);
    if (v[0] != 0)
      snprintf(seen, sizeof seen, "200:\"%s\"", v);
    else
      seen[0] = 0;
  }
  return 0;
}

int main(void) {
  char value[8];
  signal(SIGPIPE, SIG_IGN);
  if (write_file("/proc/sys/net/ipv4/conf/" DEV "/promote_secondaries", "1", 0) == 0 &&
      read_line("/proc/sys/net/ipv4/conf/" DEV "/promote_secondaries", value, sizeof value) == 0) {
    promote = strcmp(value, "1") == 0;
  }
  current_address(addr, sizeof addr);
  mmds_route();
  watch_link_events();
  const long poll_ms = announces_moves() ? ANNOUNCED_POLL_MS : POLL_MS;
  for (int fails = 0;;) {
    int has_moved;
    if (poll_mmds() == 0) {
      fails = 0;
      has_moved = wait_ms(poll_ms);
    } else {
      conn_close();
      /* MMDS not there yet (boot) or not answering: soon again, then less often. */
      fails++;
      has_moved = wait_ms(fails <= 5 ? 200 : fails <= 30 ? 1000 : 5000);
    }
    if (has_moved) moved_now();
  }
}
