package endpointslice

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/minilab/minilab/controllers/endpoint/endpointutil"
)

// This file is the part both loops share (the Service one and the
// mirroring one): given the endpoints wanted, grouped by their set of
// ports, and the slices that exist, decide which slices to create, update
// and delete, touching as few as possible, the way upstream's reconciler
// does.

// group is the wanted content of the slices for one address type and one
// set of ports: an EndpointSlice has a single list of ports, so endpoints
// whose ports differ (a named targetPort that resolves differently per
// pod) end up in different slices.
type group struct {
	addressType discoveryv1.AddressType
	ports       []discoveryv1.EndpointPort
	endpoints   map[string]discoveryv1.Endpoint // by endpointKey
}

// groups collects endpoints by groupKey.
type groups map[string]*group

func (gs groups) add(addressType discoveryv1.AddressType, ports []discoveryv1.EndpointPort, ep discoveryv1.Endpoint) {
	sortPorts(ports)
	key := groupKey(addressType, ports)
	g := gs[key]
	if g == nil {
		g = &group{addressType: addressType, ports: ports, endpoints: map[string]discoveryv1.Endpoint{}}
		gs[key] = g
	}
	g.endpoints[endpointKey(ep)] = ep
}

func sortPorts(ports []discoveryv1.EndpointPort) {
	sort.SliceStable(ports, func(i, j int) bool { return portKey(ports[i]) < portKey(ports[j]) })
}

func portKey(p discoveryv1.EndpointPort) string {
	return fmt.Sprintf("%s/%s/%d/%s", deref(p.Name), deref(p.Protocol), deref(p.Port), deref(p.AppProtocol))
}

func groupKey(addressType discoveryv1.AddressType, ports []discoveryv1.EndpointPort) string {
	keys := make([]string, 0, len(ports))
	for _, p := range ports {
		keys = append(keys, portKey(p))
	}
	sort.Strings(keys)
	return string(addressType) + "|" + strings.Join(keys, ",")
}

// endpointKey identifies an endpoint across syncs: its addresses, hostname
// and target. Other fields (conditions, node, zone) may change in place.
func endpointKey(ep discoveryv1.Endpoint) string {
	addrs := append([]string(nil), ep.Addresses...)
	sort.Strings(addrs)
	key := strings.Join(addrs, ",") + "|" + deref(ep.Hostname)
	if ep.TargetRef != nil {
		key += "|" + ep.TargetRef.Namespace + "/" + ep.TargetRef.Name
	}
	return key
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// target describes the owner of a set of slices and what every slice of
// it must carry.
type target struct {
	key          string // the owner's namespace/name, for the tracker
	namespace    string
	owner        metav1.OwnerReference // the controller reference to the owner
	generateName string
	labels       map[string]string
	// annotations the slices must carry; nil means the loop leaves
	// annotations alone except for the trigger time.
	annotations  map[string]string
	triggerTime  time.Time
	maxEndpoints int
	// placeholder keeps one empty slice when there is no endpoint at all,
	// as the EndpointSlice controller does (the mirroring one does not).
	placeholder bool
	deleting    bool // the owner is being deleted: create nothing new
}

func (t *target) newSlice(addressType discoveryv1.AddressType, ports []discoveryv1.EndpointPort) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    t.generateName,
			Namespace:       t.namespace,
			OwnerReferences: []metav1.OwnerReference{t.owner},
		},
		AddressType: addressType,
		Ports:       ports,
		Endpoints:   []discoveryv1.Endpoint{},
	}
	t.applyMeta(s)
	return s
}

// owns says whether slice belongs to this owner object (and not to an
// earlier object of the same name).
func (t *target) owns(slice *discoveryv1.EndpointSlice) bool {
	for _, ref := range slice.OwnerReferences {
		if ref.UID == t.owner.UID {
			return true
		}
	}
	return false
}

// metaInSync says whether the slice's labels (and managed annotations) are
// the wanted ones. The trigger time is not compared: it changes on writes
// that happen for other reasons.
func (t *target) metaInSync(slice *discoveryv1.EndpointSlice) bool {
	if !apiequality.Semantic.DeepEqual(slice.Labels, t.labels) {
		return false
	}
	if t.annotations == nil {
		return true
	}
	have := copyMap(slice.Annotations)
	delete(have, corev1.EndpointsLastChangeTriggerTime)
	return apiequality.Semantic.DeepEqual(have, t.annotations)
}

// applyMeta sets the wanted labels, annotations and trigger time on a
// slice about to be written.
func (t *target) applyMeta(slice *discoveryv1.EndpointSlice) {
	slice.Labels = copyMap(t.labels)
	if t.annotations != nil {
		slice.Annotations = copyMap(t.annotations)
	}
	if slice.Annotations == nil {
		slice.Annotations = map[string]string{}
	}
	if t.triggerTime.IsZero() {
		delete(slice.Annotations, corev1.EndpointsLastChangeTriggerTime)
	} else {
		slice.Annotations[corev1.EndpointsLastChangeTriggerTime] = endpointutil.FormatTriggerTime(t.triggerTime)
	}
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// plan is what a sync writes.
type plan struct {
	create, update, delete []*discoveryv1.EndpointSlice
}

// computePlan compares existing slices (those of the loop for this owner
// key) with the wanted groups.
func computePlan(t *target, existing []*discoveryv1.EndpointSlice, wanted groups) plan {
	var p plan
	byGroup := map[string][]*discoveryv1.EndpointSlice{}
	for _, s := range existing {
		if !t.owns(s) {
			// Left by an earlier object of the same name: not ours to reuse.
			p.delete = append(p.delete, s)
			continue
		}
		key := groupKey(s.AddressType, s.Ports)
		byGroup[key] = append(byGroup[key], s)
	}
	for _, key := range sortedKeys(wanted) {
		create, update, del := planGroup(t, byGroup[key], wanted[key])
		p.create = append(p.create, create...)
		p.update = append(p.update, update...)
		p.delete = append(p.delete, del...)
	}
	for _, key := range sortedKeys(byGroup) {
		if wanted[key] == nil {
			p.delete = append(p.delete, byGroup[key]...)
		}
	}
	if t.placeholder && len(p.create) == 0 && len(p.delete) == len(existing) {
		// No endpoint at all: keep (or make) one empty slice, so that
		// `kubectl get endpointslices` still shows the Service.
		if len(p.delete) == 1 && isPlaceholder(t, p.delete[0]) {
			p.delete = nil
		} else {
			p.create = append(p.create, t.newSlice(discoveryv1.AddressTypeIPv4, []discoveryv1.EndpointPort{}))
		}
	}
	recycle(t, &p)
	return p
}

func isPlaceholder(t *target, s *discoveryv1.EndpointSlice) bool {
	return len(s.Endpoints) == 0 && len(s.Ports) == 0 && t.owns(s) && t.metaInSync(s)
}

// recycle turns creates into updates of slices that would be deleted:
// one write instead of two, and the slice keeps its name.
func recycle(t *target, p *plan) {
	var keep []*discoveryv1.EndpointSlice
	for _, old := range p.delete {
		n := len(p.create)
		if n == 0 || !t.owns(old) || old.AddressType != p.create[n-1].AddressType {
			keep = append(keep, old)
			continue
		}
		s := p.create[n-1]
		p.create = p.create[:n-1]
		s.GenerateName = ""
		s.Name, s.ResourceVersion = old.Name, old.ResourceVersion
		p.update = append(p.update, s)
	}
	p.delete = keep
}

// planGroup handles the slices of one group:
//  1. in every existing slice, drop endpoints no longer wanted and refresh
//     the ones that changed (a slice left empty is deleted);
//  2. put new endpoints first into slices that are written anyway, the
//     fullest first;
//  3. put what is left into the one untouched slice they fit in best, or
//     else into new slices of at most maxEndpoints.
func planGroup(t *target, slices []*discoveryv1.EndpointSlice, g *group) (create, update, del []*discoveryv1.EndpointSlice) {
	wanted := make(map[string]discoveryv1.Endpoint, len(g.endpoints))
	for k, ep := range g.endpoints {
		wanted[k] = ep
	}
	var unchanged []*discoveryv1.EndpointSlice
	for _, s := range slices {
		var kept []discoveryv1.Endpoint
		changed := false
		for _, ep := range s.Endpoints {
			key := endpointKey(ep)
			want, ok := wanted[key]
			if !ok {
				changed = true
				continue
			}
			if !apiequality.Semantic.DeepEqual(want, ep) {
				changed = true
			}
			kept = append(kept, want)
			delete(wanted, key)
		}
		switch {
		case changed && len(kept) == 0:
			del = append(del, s)
		case changed || !t.metaInSync(s):
			s = s.DeepCopy()
			s.Endpoints = kept
			t.applyMeta(s)
			update = append(update, s)
		default:
			unchanged = append(unchanged, s)
		}
	}

	remaining := make([]discoveryv1.Endpoint, 0, len(wanted))
	for _, key := range sortedKeys(wanted) {
		remaining = append(remaining, wanted[key])
	}
	fill := func(s *discoveryv1.EndpointSlice) {
		n := min(t.maxEndpoints-len(s.Endpoints), len(remaining))
		if n > 0 {
			s.Endpoints = append(s.Endpoints, remaining[:n]...)
			remaining = remaining[n:]
		}
	}

	sort.SliceStable(update, func(i, j int) bool { return len(update[i].Endpoints) > len(update[j].Endpoints) })
	for _, s := range update {
		fill(s)
	}
	for len(remaining) > 0 {
		var s *discoveryv1.EndpointSlice
		if i := sliceToFill(unchanged, len(remaining), t.maxEndpoints); i >= 0 {
			s = unchanged[i].DeepCopy()
			unchanged = append(unchanged[:i], unchanged[i+1:]...)
			t.applyMeta(s)
			update = append(update, s)
		} else {
			s = t.newSlice(g.addressType, g.ports)
			create = append(create, s)
		}
		fill(s)
	}
	return create, update, del
}

// sliceToFill picks the untouched slice that all n endpoints fit into and
// that ends up closest to full, or -1.
func sliceToFill(slices []*discoveryv1.EndpointSlice, n, limit int) int {
	best, bestRoom := -1, limit
	for i, s := range slices {
		room := limit - len(s.Endpoints) - n
		if room >= 0 && room < bestRoom {
			best, bestRoom = i, room
		}
	}
	return best
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// apply writes a plan through the API and records the writes in the
// tracker.
func apply(ctx context.Context, client kubernetes.Interface, tracker *sliceTracker, t *target, p plan) error {
	api := client.DiscoveryV1().EndpointSlices(t.namespace)
	if !t.deleting {
		for _, s := range p.create {
			created, err := api.Create(ctx, s, metav1.CreateOptions{FieldManager: fieldManager})
			if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
				return nil // the namespace is going away, and its Services with it
			}
			if err != nil {
				return fmt.Errorf("creating an EndpointSlice for %s: %w", t.key, err)
			}
			tracker.written(t.key, created, "")
		}
	}
	for _, s := range p.update {
		old := s.ResourceVersion
		updated, err := api.Update(ctx, s, metav1.UpdateOptions{FieldManager: fieldManager})
		if err != nil {
			return fmt.Errorf("updating EndpointSlice %s for %s: %w", s.Name, t.key, err)
		}
		tracker.written(t.key, updated, old)
	}
	for _, s := range p.delete {
		err := api.Delete(ctx, s.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &s.UID}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("deleting EndpointSlice %s for %s: %w", s.Name, t.key, err)
		}
		tracker.deleted(t.key, s)
	}
	return nil
}
