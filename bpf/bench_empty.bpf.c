/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* An empty TC program: the floor bench/datapath_bench.cpp measures
 * BPF_PROG_TEST_RUN's own cost with. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

SEC("tc")
int empty(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
