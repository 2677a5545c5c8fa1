package proxy

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are kube-proxy's sync metrics (same names, in the kubeproxy
// subsystem), with a "node" label since one minilab process runs the
// proxier of every node.
type Metrics struct {
	SyncDuration        *prometheus.HistogramVec
	FullSyncDuration    *prometheus.HistogramVec
	PartialSyncDuration *prometheus.HistogramVec
	NetworkProgramming  *prometheus.HistogramVec
	LastSync            *prometheus.GaugeVec
	RulesTotal          *prometheus.GaugeVec
	RulesLast           *prometheus.GaugeVec
	RestoreFailures     *prometheus.CounterVec
	PartialFailures     *prometheus.CounterVec
	NoLocalEndpoints    *prometheus.GaugeVec
}

// syncBuckets suit syncs from a millisecond (a partial sync) to minutes
// (10,000 services with the nf_tables backend).
var syncBuckets = prometheus.ExponentialBuckets(0.001, 2, 20)

// NewMetrics creates and registers the metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	h := func(name, help string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Subsystem: "kubeproxy", Name: name, Help: help, Buckets: syncBuckets}, []string{"node"})
	}
	m := &Metrics{
		SyncDuration:        h("sync_proxy_rules_duration_seconds", "SyncProxyRules latency in seconds"),
		FullSyncDuration:    h("sync_full_proxy_rules_duration_seconds", "SyncProxyRules latency in seconds for full resyncs"),
		PartialSyncDuration: h("sync_partial_proxy_rules_duration_seconds", "SyncProxyRules latency in seconds for partial resyncs"),
		NetworkProgramming:  h("network_programming_duration_seconds", "In Cluster Network Programming Latency in seconds: from a change of a Service or its endpoints to the node's rules for it"),
		LastSync: prometheus.NewGaugeVec(prometheus.GaugeOpts{Subsystem: "kubeproxy", Name: "sync_proxy_rules_last_timestamp_seconds",
			Help: "The last time proxy rules were successfully synced"}, []string{"node"}),
		RulesTotal: prometheus.NewGaugeVec(prometheus.GaugeOpts{Subsystem: "kubeproxy", Name: "sync_proxy_rules_iptables_total",
			Help: "Total number of iptables rules owned by kube-proxy"}, []string{"node", "table"}),
		RulesLast: prometheus.NewGaugeVec(prometheus.GaugeOpts{Subsystem: "kubeproxy", Name: "sync_proxy_rules_iptables_last",
			Help: "Number of iptables rules written by kube-proxy in last sync"}, []string{"node", "table"}),
		RestoreFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Subsystem: "kubeproxy", Name: "sync_proxy_rules_iptables_restore_failures_total",
			Help: "Cumulative proxy iptables restore failures"}, []string{"node"}),
		PartialFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Subsystem: "kubeproxy", Name: "sync_proxy_rules_iptables_partial_restore_failures_total",
			Help: "Cumulative proxy iptables partial restore failures"}, []string{"node"}),
		NoLocalEndpoints: prometheus.NewGaugeVec(prometheus.GaugeOpts{Subsystem: "kubeproxy", Name: "sync_proxy_rules_no_local_endpoints_total",
			Help: "Number of services with a Local traffic policy and no endpoints"}, []string{"node", "traffic_policy"}),
	}
	if reg != nil {
		reg.MustRegister(m.SyncDuration, m.FullSyncDuration, m.PartialSyncDuration, m.NetworkProgramming, m.LastSync,
			m.RulesTotal, m.RulesLast, m.RestoreFailures, m.PartialFailures, m.NoLocalEndpoints)
	}
	return m
}
