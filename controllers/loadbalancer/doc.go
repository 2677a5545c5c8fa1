// Package loadbalancer gives `type: LoadBalancer` Services an external IP,
// the part of a cloud controller manager's service controller (or of
// MetalLB's controller) that answers "which address is this load balancer
// on?". The appliance that owns those addresses on the lab network and
// forwards their traffic to the nodes lives elsewhere; it reads what this
// controller writes into status.loadBalancer.
//
// Each Service of type LoadBalancer whose spec.loadBalancerClass is unset
// (this is the default implementation, as a cloud provider's is) or names
// the class this controller implements gets one address from a fixed pool:
//
//   - spec.loadBalancerIP, when set: it must be in the pool, not held by
//     another Service and not requested by an older one (first come, first
//     served), otherwise the Service keeps what it has or stays pending,
//     with a warning event; changing it moves the Service, as in MetalLB;
//   - else the address it already shows in status.loadBalancer.ingress, so
//     addresses survive restarts of the controller (the status is stored);
//   - else the lowest address nobody holds or requests, handed out oldest
//     Service first, as MetalLB walks its pools in address order.
//
// It writes status.loadBalancer.ingress = [{ip, ipMode: VIP}] through the
// services/status subresource, and records the service controller's events:
// EnsuringLoadBalancer, EnsuredLoadBalancer, SyncLoadBalancerFailed ("Error
// syncing load balancer: failed to ensure load balancer: no available IPs in
// pool ..."), DeletingLoadBalancer and DeletedLoadBalancer, and Type /
// LoadbalancerIP when those fields change. A Service that gets no address
// stays <pending> and is tried again as soon as another one gives an address
// up.
//
// Like the upstream service controller it puts the finalizer
// service.kubernetes.io/load-balancer-cleanup on every Service it gives a
// load balancer, so that a deleted Service keeps its address until the
// controller has released it, and it clears status.loadBalancer when a
// Service stops being of type LoadBalancer.
package loadbalancer
