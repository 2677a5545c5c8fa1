package images

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The nginx releases behind the moving tags of the official image.
const (
	nginxMainline = "1.29.3" // nginx, nginx:latest, nginx:mainline, nginx:alpine, ...
	nginxStable   = "1.28.0" // nginx:stable, nginx:stable-alpine, ...
)

// nginxLastPatch is the release a two-part tag such as nginx:1.25 points
// at: the last one of that line.
var nginxLastPatch = map[string]string{
	"1.14": "1.14.2", "1.15": "1.15.12", "1.16": "1.16.1", "1.17": "1.17.10",
	"1.18": "1.18.0", "1.19": "1.19.10", "1.20": "1.20.2", "1.21": "1.21.6",
	"1.22": "1.22.1", "1.23": "1.23.4", "1.24": "1.24.0", "1.25": "1.25.5",
	"1.26": "1.26.3", "1.27": "1.27.5", "1.28": nginxStable, "1.29": nginxMainline,
}

// nginxVersion is the nginx release an official image tag holds:
// "1.25.3-alpine" is 1.25.3, "1.25" the last 1.25 release, "stable-perl"
// the stable release, anything else ("latest", "alpine", "bookworm") mainline.
func nginxVersion(tag string) string {
	base, _, _ := strings.Cut(tag, "-")
	if base == "stable" {
		return nginxStable
	}
	parts := strings.Split(base, ".")
	for _, p := range parts {
		if _, err := strconv.Atoi(p); err != nil {
			return nginxMainline
		}
	}
	switch len(parts) {
	case 3:
		return base
	case 2:
		if v, ok := nginxLastPatch[base]; ok {
			return v
		}
		return base + ".0"
	}
	return nginxMainline
}

// versionAtLeast compares dotted release numbers.
func versionAtLeast(version, min string) bool {
	v, m := strings.Split(version, "."), strings.Split(min, ".")
	for i := range m {
		var a int
		if i < len(v) {
			a, _ = strconv.Atoi(v[i])
		}
		b, _ := strconv.Atoi(m[i])
		if a != b {
			return a > b
		}
	}
	return true
}

// nginxWelcome is /usr/share/nginx/html/index.html of the official image
// since nginx 1.21.1, which added the color-scheme rule (615 bytes).
const nginxWelcome = `<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>

<p>For online documentation and support please refer to
<a href="http://nginx.org/">nginx.org</a>.<br/>
Commercial support is available at
<a href="http://nginx.com/">nginx.com</a>.</p>

<p><em>Thank you for using nginx.</em></p>
</body>
</html>
`

// nginxWelcomeOld is the welcome page of the releases before (612 bytes),
// still seen with nginx:1.14.2 and nginx:1.16.1 of the Kubernetes docs.
const nginxWelcomeOld = `<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>
    body {
        width: 35em;
        margin: 0 auto;
        font-family: Tahoma, Verdana, Arial, sans-serif;
    }
</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>

<p>For online documentation and support please refer to
<a href="http://nginx.org/">nginx.org</a>.<br/>
Commercial support is available at
<a href="http://nginx.com/">nginx.com</a>.</p>

<p><em>Thank you for using nginx.</em></p>
</body>
</html>
`

// nginxBuilt is the modification time of the files baked into the images
// (Last-Modified, and the first half of the ETag).
var nginxBuilt = time.Date(2025, time.October, 28, 12, 5, 10, 0, time.UTC)

// nginx is the official nginx image: the welcome page on / and
// /index.html, nginx's own 404 page elsewhere, port 80, access log in the
// image's "main" format on stdout, errors on stderr.
func nginx(tag string, _ []string) *Image {
	version := nginxVersion(tag)
	welcome := nginxWelcome
	if !versionAtLeast(version, "1.21.1") {
		welcome = nginxWelcomeOld
	}
	return &Image{
		Ports: []Port{{Port: 80, Protocol: "TCP"}},
		Serve: func(ctx context.Context, pod Pod, listeners map[int32]net.Listener) error {
			site := &nginxSite{
				version: version,
				files:   map[string]staticFile{"/index.html": {[]byte(welcome), nginxBuilt}},
			}
			return site.serve(ctx, pod, listeners, nginxStartup(version))
		},
	}
}

// myApp is wangyanglinux/myapp (also ikubernetes/myapp), the image of many
// Chinese-language Kubernetes courses: nginx 1.12.2 serving
// "Hello MyApp | Version: v1 | ..." on / and the pod name on /hostname.html,
// which the image writes at start-up.
func myApp(tag string, _ []string) *Image {
	return &Image{
		Ports: []Port{{Port: 80, Protocol: "TCP"}},
		Serve: func(ctx context.Context, pod Pod, listeners map[int32]net.Listener) error {
			index := fmt.Sprintf("Hello MyApp | Version: %s | <a href=\"hostname.html\">Pod Name</a>\n", tag)
			site := &nginxSite{
				version: "1.12.2",
				files: map[string]staticFile{
					"/index.html":    {[]byte(index), time.Date(2018, time.February, 25, 9, 41, 20, 0, time.UTC)},
					"/hostname.html": {[]byte(pod.Name + "\n"), clock().UTC().Truncate(time.Second)},
				},
			}
			return site.serve(ctx, pod, listeners, nil)
		},
	}
}

// staticFile is a file under /usr/share/nginx/html.
type staticFile struct {
	body    []byte
	modTime time.Time
}

// nginxSite is nginx's default server: `root /usr/share/nginx/html;
// index index.html;` on port 80, server_name localhost.
type nginxSite struct {
	version string
	files   map[string]staticFile // by URI path
	log     *logger
}

const nginxRoot = "/usr/share/nginx/html"

func (s *nginxSite) serve(ctx context.Context, pod Pod, listeners map[int32]net.Listener, startup []string) error {
	r := newRun(ctx, pod, listeners)
	s.log = r.log
	r.serveHTTP(80, s)
	for _, l := range startup {
		r.log.line(l)
	}
	return r.wait()
}

func (s *nginxSite) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	rec := newRecorder(w, req)
	s.respond(rec, req)
	s.accessLog(rec, req)
}

// respond does what nginx's index and static modules do for a request.
func (s *nginxSite) respond(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Server", "nginx/"+s.version)
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost:
	default:
		s.errorPage(w, http.StatusMethodNotAllowed)
		return
	}
	uri := cleanURI(req.URL.Path)
	name := uri
	if strings.HasSuffix(uri, "/") {
		name += "index.html" // the index directive
	}
	f, ok := s.files[name]
	if !ok {
		s.notFound(req, uri, name)
		s.errorPage(w, http.StatusNotFound)
		return
	}
	if req.Method == http.MethodPost {
		s.errorPage(w, http.StatusMethodNotAllowed) // static files cannot be POSTed to
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html")
	h.Set("ETag", fmt.Sprintf(`"%x-%x"`, f.modTime.Unix(), len(f.body)))
	h.Set("Connection", "keep-alive")
	// ServeContent answers HEAD, Range, If-None-Match and If-Modified-Since
	// as nginx does for static files.
	http.ServeContent(w, req, "", f.modTime, bytes.NewReader(f.body))
}

// cleanURI normalizes a request path as nginx does before looking it up:
// "//" merged, "." and ".." resolved, the trailing slash kept.
func cleanURI(p string) string {
	c := path.Clean("/" + p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

// notFound logs the error nginx logs for a file that is not there.
func (s *nginxSite) notFound(req *http.Request, uri, name string) {
	what := fmt.Sprintf(`open() "%s%s" failed (2: No such file or directory)`, nginxRoot, uri)
	if strings.HasSuffix(uri, "/") {
		what = fmt.Sprintf(`"%s%s" is not found (2: No such file or directory)`, nginxRoot, name)
	}
	msg := fmt.Sprintf(`[error] 29#29: *%d %s, client: %s, server: localhost, request: "%s"`,
		connNumber(req.Context()), what, remoteIP(req), nginxEscape(requestLine(req)))
	if req.Host != "" {
		msg += fmt.Sprintf(`, host: "%s"`, nginxEscape(req.Host))
	}
	s.log.logf("%s", msg)
}

// nginxReasons are the status texts of nginx's built-in error pages.
var nginxReasons = map[int]string{
	http.StatusNotFound:         "Not Found",
	http.StatusMethodNotAllowed: "Not Allowed",
}

// errorPage sends one of nginx's built-in error pages (lines end in CRLF).
func (s *nginxSite) errorPage(w http.ResponseWriter, status int) {
	title := fmt.Sprintf("%d %s", status, nginxReasons[status])
	body := "<html>\r\n<head><title>" + title + "</title></head>\r\n<body>\r\n<center><h1>" + title +
		"</h1></center>\r\n<hr><center>nginx/" + s.version + "</center>\r\n</body>\r\n</html>\r\n"
	h := w.Header()
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Connection", "keep-alive")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// accessLog writes the line of the image's log_format "main":
// $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent
// "$http_referer" "$http_user_agent" "$http_x_forwarded_for"
func (s *nginxSite) accessLog(w *recorder, req *http.Request) {
	status := w.status
	if status == 0 {
		status = http.StatusOK
	}
	s.log.printf(`%s - - [%s] "%s" %d %d "%s" "%s" "%s"`,
		remoteIP(req), clock().UTC().Format("02/Jan/2006:15:04:05 -0700"), nginxEscape(requestLine(req)),
		status, w.bytes, nginxVar(req.Referer()), nginxVar(req.UserAgent()), nginxVar(req.Header.Get("X-Forwarded-For")))
}

func requestLine(req *http.Request) string {
	return req.Method + " " + req.RequestURI + " " + req.Proto
}

// nginxVar is a variable as nginx logs it: "-" when empty, escaped.
func nginxVar(v string) string {
	if v == "" {
		return "-"
	}
	return nginxEscape(v)
}

// nginxEscape escapes '"', '\' and non-printable bytes as \xHH, as nginx
// does in log lines.
func nginxEscape(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '"' || c == '\\' || c < 0x20 || c >= 0x7f {
			fmt.Fprintf(&b, `\x%02X`, c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// nginxStartup is what the official image prints when it starts: the
// entrypoint's configuration scripts (since 1.19) and nginx's notices.
func nginxStartup(version string) []string {
	if !versionAtLeast(version, "1.19.0") {
		return nil // older images start nginx directly, logging at "warn"
	}
	scripts := []struct{ since, lines string }{
		{"1.19.0", "/docker-entrypoint.sh: Launching /docker-entrypoint.d/10-listen-on-ipv6-by-default.sh\n" +
			"10-listen-on-ipv6-by-default.sh: info: Getting the checksum of /etc/nginx/conf.d/default.conf\n" +
			"10-listen-on-ipv6-by-default.sh: info: Enabled listen on IPv6 in /etc/nginx/conf.d/default.conf"},
		{"1.25.0", "/docker-entrypoint.sh: Sourcing /docker-entrypoint.d/15-local-resolvers.envsh"},
		{"1.19.0", "/docker-entrypoint.sh: Launching /docker-entrypoint.d/20-envsubst-on-templates.sh"},
		{"1.21.0", "/docker-entrypoint.sh: Launching /docker-entrypoint.d/30-tune-worker-processes.sh"},
	}
	lines := []string{
		"/docker-entrypoint.sh: /docker-entrypoint.d/ is not empty, will attempt to perform configuration",
		"/docker-entrypoint.sh: Looking for shell scripts in /docker-entrypoint.d/",
	}
	for _, s := range scripts {
		if versionAtLeast(version, s.since) {
			lines = append(lines, strings.Split(s.lines, "\n")...)
		}
	}
	lines = append(lines, "/docker-entrypoint.sh: Configuration complete; ready for start up")

	stamp := clock().UTC().Format("2006/01/02 15:04:05")
	notice := func(msg string) { lines = append(lines, stamp+" [notice] 1#1: "+msg) }
	notice(`using the "epoll" event method`)
	notice("nginx/" + version)
	if release, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		notice("OS: Linux " + strings.TrimSpace(string(release)))
	}
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil {
		notice(fmt.Sprintf("getrlimit(RLIMIT_NOFILE): %d:%d", rl.Cur, rl.Max))
	}
	notice("start worker processes")
	for i := range runtime.NumCPU() { // worker_processes auto
		notice(fmt.Sprintf("start worker process %d", 29+i))
	}
	return lines
}
