/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef BULKHEAD_FLOWS_H
#define BULKHEAD_FLOWS_H

#include "loader.h"

/*
 * Allowed traffic is counted per socket (in its storage) and folded into
 * bh_flows when the socket changes destination, closes, or sends or receives
 * its first packet after the fold epoch advanced. Before a flow summary the
 * daemon advances the epoch and runs this: the bh_fold_tcp and bh_fold_udp
 * iterators in every network namespace used by a partner process (and the
 * daemon's own) fold every TCP and UDP socket, idle ones included. Sockets of
 * other kinds (ping, raw) fold at their next packet or at close. Returns the
 * number of namespaces walked, or -errno (logged) when none could be.
 */
int bh_fold_flows(struct bh_loader *l);

#endif
