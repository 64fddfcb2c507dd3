package wps_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/wpsfn/wpsfn/pkg/wps"
)

func sinkZZ(b *testing.B) string {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(202)
	})}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func trZZ() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256
	return &http.Client{Transport: tr}
}

func BenchmarkZZWPS(b *testing.B) {
	addr := sinkZZ(b)
	c, _ := wps.NewClientFromConnectionString("Endpoint=http://"+addr+";AccessKey=k", "chat", &wps.ClientOptions{HTTPClient: trZZ()})
	msg := wps.Text("hello")
	b.SetParallelism(25)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := c.SendToAll(context.Background(), msg, nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkZZBare(b *testing.B) {
	addr := sinkZZ(b)
	hc := trZZ()
	url := "http://" + addr + "/api/hubs/chat/:send?api-version=2024-12-01"
	b.SetParallelism(25)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequestWithContext(context.Background(), "POST", url, strings.NewReader("hello"))
			req.Header.Set("Authorization", "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpYXQiOjE3OTU3NDc4NzEsImV4cCI6MTc5NTc1MTQ3MSwiYXVkIjoiaHR0cDovLzEyNy4wLjAuMToxODA5MS9hcGkvaHVicy9jaGF0LzpzZW5kP2FwaS12ZXJzaW9uPTIwMjQtMTItMDEifQ.z_Xax1XeDJ9-90k_eHvSlmJmLk6RweHtX_hQW5xXsKo")
			req.Header.Set("Content-Type", "text/plain")
			resp, err := hc.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
