package main

import (
	"io"
	"log/slog"
	"net"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"TICKETBOOKING_RESERVATION_TTL": "30s",
		"TICKETBOOKING_API":             "127.0.0.1:20000",
		"TICKETBOOKING_LOG_LEVEL":       "debug",
	}
	cfg, level, err := parseConfig([]string{"-api", "127.0.0.1:30000", "-db", "x.db", "-rotor", "http://127.0.0.1:8000"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Cinema.ReservationTTL != 30*time.Second || cfg.APIAddress != "127.0.0.1:30000" || cfg.Database != "x.db" ||
		level != slog.LevelDebug || cfg.HTTPAddress != "127.0.0.1:8080" || cfg.ProxyAddress != "127.0.0.1:10001" ||
		cfg.WebSocketURL != "/connection/websocket" || cfg.RotorURL != "http://127.0.0.1:8000" {
		t.Fatalf("config = %+v, level %v", cfg, level)
	}
	for _, c := range []struct {
		args []string
		env  map[string]string
	}{
		{[]string{"-reservation-ttl", "0s"}, nil},
		{[]string{"extra"}, nil},
		{[]string{"-nope"}, nil},
		{nil, map[string]string{"TICKETBOOKING_RESERVATION_TTL": "soon"}},
	} {
		if _, _, err := parseConfig(c.args, func(k string) string { return c.env[k] }, io.Discard); err == nil {
			t.Errorf("parseConfig(%q, %v) succeeded", c.args, c.env)
		}
	}
}

func TestPageURL(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, "http://localhost:8080/"},
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 8080}, "http://localhost:8080/"},
		{&net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 80}, "http://192.0.2.7:80/"},
	} {
		if got := pageURL(c.addr); got != c.want {
			t.Errorf("pageURL(%v) = %q, want %q", c.addr, got, c.want)
		}
	}
}
