package app

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rotorhq/rotor/internal/node"
)

// Metric descriptions of the node gauges, under Centrifugo's names so that
// existing dashboards read them.
var (
	descClients = prometheus.NewDesc("centrifugo_node_num_clients",
		"Number of clients connected to this node.", nil, nil)
	descUsers = prometheus.NewDesc("centrifugo_node_num_users",
		"Number of unique users connected to this node.", nil, nil)
	descChannels = prometheus.NewDesc("centrifugo_node_num_channels",
		"Number of channels with one or more subscribers on this node.", nil, nil)
	descSubs = prometheus.NewDesc("centrifugo_node_num_subscriptions",
		"Number of subscriptions on this node.", nil, nil)
	descNodes = prometheus.NewDesc("centrifugo_node_num_nodes",
		"Number of live nodes in the cluster, this one included.", nil, nil)
	descBuild = prometheus.NewDesc("centrifugo_node_build",
		"Build information of this node (always 1).", []string{"version"}, nil)
)

// nodeCollector reads the node gauges at each scrape, so that nothing is
// counted on the hot paths for them.
type nodeCollector struct{ n *node.Node }

func (c nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descClients, descUsers, descChannels, descSubs, descNodes, descBuild} {
		ch <- d
	}
}

func (c nodeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	infos, err := c.n.Info(ctx)
	if err != nil || len(infos) == 0 {
		return
	}
	self := infos[0] // Info lists this node first
	gauge := func(d *prometheus.Desc, v uint32) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	gauge(descClients, self.NumClients)
	gauge(descUsers, self.NumUsers)
	gauge(descChannels, self.NumChannels)
	gauge(descSubs, self.NumSubs)
	gauge(descNodes, uint32(len(infos)))
	ch <- prometheus.MustNewConstMetric(descBuild, prometheus.GaugeValue, 1, node.Version)
}

// mountMetrics serves Prometheus metrics at /metrics (the prometheus
// option) on the internal handler: the node gauges, the Go runtime's and
// the process's.
func mountMetrics(mux *http.ServeMux, n *node.Node) error {
	reg := prometheus.NewRegistry()
	for _, c := range []prometheus.Collector{
		nodeCollector{n},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return nil
}
