package dns

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Label values CoreDNS uses for the kubeadm server block ".:53".
const (
	metricServer = "dns://:53"
	metricZone   = "."
)

// metrics are the prometheus plugin's request metrics, named as CoreDNS
// names them.
type metrics struct {
	registry  *prometheus.Registry
	requests  *prometheus.CounterVec
	responses *prometheus.CounterVec
	duration  *prometheus.HistogramVec

	// The label combinations seen so far, so the hot path skips hashing
	// label values on every query.
	byRequest  sync.Map // requestLabels → requestMetrics
	byResponse sync.Map // responseLabels → prometheus.Counter
}

type requestLabels struct{ proto, family, typ string }

type requestMetrics struct {
	count    prometheus.Counter
	duration prometheus.Observer
}

type responseLabels struct{ rcode, plugin string }

func newMetrics(extra prometheus.Registerer) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "coredns", Subsystem: "dns", Name: "requests_total",
			Help: "Counter of DNS requests made per zone, protocol and family.",
		}, []string{"server", "zone", "proto", "family", "type"}),
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "coredns", Subsystem: "dns", Name: "responses_total",
			Help: "Counter of response status codes.",
		}, []string{"server", "zone", "rcode", "plugin"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "coredns", Subsystem: "dns", Name: "request_duration_seconds",
			Help:    "Histogram of the time (in seconds) each request took per zone.",
			Buckets: prometheus.ExponentialBuckets(0.00025, 2, 16), // CoreDNS's plugin.TimeBuckets
		}, []string{"server", "zone", "type"}),
	}
	m.registry.MustRegister(m.requests, m.responses, m.duration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if extra != nil {
		for _, c := range []prometheus.Collector{m.requests, m.responses, m.duration} {
			_ = extra.Register(c)
		}
	}
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// monitoredTypes are the query types CoreDNS reports by name; the rest
// are counted as "other".
var monitoredTypes = map[uint16]bool{
	dns.TypeA: true, dns.TypeAAAA: true, dns.TypeCNAME: true, dns.TypeDNSKEY: true, dns.TypeDS: true,
	dns.TypeMX: true, dns.TypeNSEC3: true, dns.TypeNSEC: true, dns.TypeNS: true, dns.TypePTR: true,
	dns.TypeRRSIG: true, dns.TypeSOA: true, dns.TypeSRV: true, dns.TypeTXT: true, dns.TypeHTTPS: true,
	dns.TypeIXFR: true, dns.TypeAXFR: true, dns.TypeANY: true,
}

func (m *metrics) observe(c client, r, reply *dns.Msg, plugin string, start time.Time) {
	typ := "other"
	if r != nil && len(r.Question) > 0 && monitoredTypes[r.Question[0].Qtype] {
		typ = dns.TypeToString[r.Question[0].Qtype]
	}
	family := "1"
	if c.family == 2 {
		family = "2"
	}
	rcode, ok := dns.RcodeToString[reply.Rcode]
	if !ok {
		rcode = strconv.Itoa(reply.Rcode)
	}
	rl := requestLabels{c.proto, family, typ}
	rm, ok := m.byRequest.Load(rl)
	if !ok {
		rm, _ = m.byRequest.LoadOrStore(rl, requestMetrics{
			count:    m.requests.WithLabelValues(metricServer, metricZone, c.proto, family, typ),
			duration: m.duration.WithLabelValues(metricServer, metricZone, typ),
		})
	}
	rm.(requestMetrics).count.Inc()
	rm.(requestMetrics).duration.Observe(time.Since(start).Seconds())

	pl := responseLabels{rcode, plugin}
	counter, ok := m.byResponse.Load(pl)
	if !ok {
		counter, _ = m.byResponse.LoadOrStore(pl, m.responses.WithLabelValues(metricServer, metricZone, rcode, plugin))
	}
	counter.(prometheus.Counter).Inc()
}
