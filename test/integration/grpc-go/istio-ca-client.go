// A CA client built like the Istio agent's (pilot-agent's citadel client), on grpc-go, the gRPC
// stack Istio itself uses: one connection over TLS verified against a root file, the service
// account token read from a file on every call and sent as `authorization: Bearer`, the
// `clusterid` metadata, and CreateCertificate calls on /istio.v1.auth.IstioCertificateService.
//
// The two messages are encoded with protowire instead of generated code, so the test needs no
// protoc: IstioCertificateRequest{csr = 1, validity_duration = 3} and
// IstioCertificateResponse{cert_chain = 1}. The codec is registered under the name "proto",
// replacing grpc-go's default, so the wire (content-type application/grpc) is what the agent sends.
//
// Each call prints one JSON line: {"code": <gRPC status code>, "message": "...", "chain": [...]}.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/ioutil"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
)

const method = "/istio.v1.auth.IstioCertificateService/CreateCertificate"

type certificateRequest struct {
	csr      string
	validity int64
}

type certificateResponse struct {
	chain []string
}

type wireCodec struct{}

func (wireCodec) Name() string { return "proto" }

func (wireCodec) Marshal(v interface{}) ([]byte, error) {
	req, ok := v.(*certificateRequest)
	if !ok {
		return nil, fmt.Errorf("cannot marshal %T", v)
	}
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, req.csr)
	if req.validity != 0 {
		b = protowire.AppendTag(b, 3, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(req.validity))
	}
	return b, nil
}

func (wireCodec) Unmarshal(data []byte, v interface{}) error {
	resp, ok := v.(*certificateResponse)
	if !ok {
		return fmt.Errorf("cannot unmarshal into %T", v)
	}
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return protowire.ParseError(n)
		}
		data = data[n:]
		if num == 1 && typ == protowire.BytesType {
			s, m := protowire.ConsumeString(data)
			if m < 0 {
				return protowire.ParseError(m)
			}
			resp.chain = append(resp.chain, s)
			data = data[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, data)
		if m < 0 {
			return protowire.ParseError(m)
		}
		data = data[m:]
	}
	return nil
}

// tokenFile is the agent's per-RPC credential: the token file is read again for every call,
// as a projected service-account token is.
type tokenFile struct{ path string }

func (t tokenFile) GetRequestMetadata(ctx context.Context, uri ...string) (map[string]string, error) {
	b, err := ioutil.ReadFile(t.path)
	if err != nil {
		return nil, err
	}
	return map[string]string{"authorization": "Bearer " + strings.TrimSpace(string(b))}, nil
}

func (tokenFile) RequireTransportSecurity() bool { return true }

type result struct {
	Code    uint32   `json:"code"`
	Message string   `json:"message"`
	Chain   []string `json:"chain"`
}

func main() {
	addr := flag.String("addr", "", "CA address host:port")
	root := flag.String("root", "", "root certificate file the server's chain must verify against")
	serverName := flag.String("server-name", "", "TLS server name to verify (default: the address's host)")
	token := flag.String("token-file", "", "service account token file (omit to send none)")
	clusterID := flag.String("cluster-id", "", "clusterid metadata (omit to send none)")
	csrFile := flag.String("csr", "", "PEM CSR file")
	validity := flag.Int64("validity", 3600, "validity_duration in seconds")
	calls := flag.Int("n", 1, "calls to make on the one connection")
	concurrency := flag.Int("c", 1, "calls in flight at once")
	certFile := flag.String("cert", "", "client certificate chain (PEM) for mTLS")
	keyFile := flag.String("key", "", "client private key (PEM) for mTLS")
	interval := flag.Duration("interval", 0, "pause between a worker's calls (as an agent's renewals are spaced)")
	progress := flag.String("progress", "", "file to append one line to after each call (for a test to follow)")
	flag.Parse()

	fail := func(err error) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	rootPEM, err := ioutil.ReadFile(*root)
	if err != nil {
		fail(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(rootPEM) {
		fail(errors.New("no certificate in " + *root))
	}
	csr, err := ioutil.ReadFile(*csrFile)
	if err != nil {
		fail(err)
	}
	tlsConfig := &tls.Config{RootCAs: pool, ServerName: *serverName, MinVersion: tls.VersionTLS12}
	if *certFile != "" {
		pair, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			fail(err)
		}
		tlsConfig.Certificates = []tls.Certificate{pair}
	}
	encoding.RegisterCodec(wireCodec{})
	opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(tlsConfig))}
	if *token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(tokenFile{*token}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := grpc.DialContext(ctx, *addr, append(opts, grpc.WithBlock())...)
	if err != nil {
		fail(err)
	}
	defer conn.Close()

	results := make([]result, *calls)
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < *concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				callCtx, callCancel := context.WithTimeout(context.Background(), 15*time.Second)
				if *clusterID != "" {
					callCtx = metadata.AppendToOutgoingContext(callCtx, "ClusterID", *clusterID)
				}
				resp := &certificateResponse{}
				err := conn.Invoke(callCtx, method, &certificateRequest{string(csr), *validity}, resp)
				callCancel()
				s := status.Convert(err)
				results[i] = result{Code: uint32(s.Code()), Message: s.Message(), Chain: resp.chain}
				if *progress != "" {
					f, err := os.OpenFile(*progress, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
					if err == nil {
						fmt.Fprintf(f, "%d\n", s.Code())
						f.Close()
					}
				}
				time.Sleep(*interval)
			}
		}()
	}
	for i := 0; i < *calls; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	out := json.NewEncoder(os.Stdout)
	for _, r := range results {
		if err := out.Encode(r); err != nil {
			fail(err)
		}
	}
}
