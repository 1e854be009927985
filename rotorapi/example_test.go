package rotorapi_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/rotorhq/rotor/rotorapi"
)

// Publish over gRPC to a node whose config has "grpc_api": true,
// "grpc_api_port": 10000 and "grpc_api_key": "secret".
func ExampleNew() {
	c, err := rotorapi.New("tcp://127.0.0.1:10000", rotorapi.WithAPIKey("secret"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	res, err := c.PublishJSON(context.Background(), "news", map[string]string{"title": "Alien tonight"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("published at offset", res.Offset)
}

// The same over HTTP ("api_key": "secret"); the answer here comes from a
// stand-in for the node.
func ExampleError() {
	node := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println(r.Method, r.URL.Path, r.Header.Get("X-API-Key"))
		_, _ = w.Write([]byte(`{"error":{"code":102,"message":"unknown channel"}}`))
	}))
	defer node.Close()

	c, err := rotorapi.New(node.URL, rotorapi.WithAPIKey("secret"))
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.Publish(context.Background(), rotorapi.PublishRequest{Channel: "nope:x", Data: []byte(`{}`)})
	var apiErr *rotorapi.Error
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.Code, apiErr.Message)
	}
	fmt.Println(err)
	// Output:
	// POST /api/publish secret
	// 102 unknown channel
	// rotorapi: publish: error 102: unknown channel
}

func ExampleClient_Batch() {
	c, err := rotorapi.New("127.0.0.1:10000")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	res, err := c.Batch(context.Background(), rotorapi.BatchRequest{Commands: []rotorapi.Command{
		rotorapi.PublishRequest{Channel: "screening.7", Data: []byte(`{"seat":"A1"}`)},
		rotorapi.DisconnectRequest{User: "42", Code: 4501, Reason: "banned"},
		rotorapi.PresenceStatsRequest{Channel: "screening.7"},
	}})
	if err != nil {
		log.Fatal(err)
	}
	if stats, ok := res.Replies[2].Result.(*rotorapi.PresenceStatsResult); ok {
		fmt.Println(stats.NumClients, "watching")
	}
	if err := res.Err(); err != nil {
		log.Print(err)
	}
}

// Events as the seat map of the ticket-booking demo receives them:
// {"event":"cinema.tickets.reserved","data":{"seats":["A1","A2"]}}.
func ExampleBroadcaster() {
	c, err := rotorapi.New("127.0.0.1:10000", rotorapi.WithTimeout(2*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	events := rotorapi.NewBroadcaster(c)
	err = events.Broadcast(context.Background(), "cinema.tickets.reserved",
		map[string]any{"seats": []string{"A1", "A2"}},
		"screening.7", "user#42")
	if err != nil {
		log.Print(err)
	}
}
