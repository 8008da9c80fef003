/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * `bulkhead reach [PARTNER]`: the blast radius read from the loaded trie:
 * what a partner can reach now (entries, addresses, address:port pairs),
 * its live JIT grants, and destinations it shares with other partners.
 */
#ifndef BULKHEAD_REACH_H
#define BULKHEAD_REACH_H

int bh_cmd_reach(int argc, char **argv);

#endif
