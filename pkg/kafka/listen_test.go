package kafka

import "net"

// loopback keeps the test brokers on 127.0.0.1 whatever address kfake
// asks for.
func loopback(network, _ string) (net.Listener, error) { return net.Listen(network, "127.0.0.1:0") }
