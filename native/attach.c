/* SPDX-License-Identifier: Apache-2.0 */
/* attach.c: attach a loaded program (by section, or to an explicit target) and detach it. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>

#include "ebpm_native.h"
#include "object.h"

/*
 * A link is either a libbpf bpf_link or a tc filter. libbpf 1.1 has no bpf_link for tc
 * (tcx links need libbpf 1.3 and kernel 6.6), so a tc "link" remembers hook and handle.
 * Neither depends on the bpf_object staying open: the kernel holds the program.
 */
struct link {
	struct res r;
	struct bpf_link *link;
	bool tc;
	bool own_qdisc; /* ebpm created the interface's clsact qdisc for this link */
	struct bpf_tc_hook hook;
	struct bpf_tc_opts opts;
};

/*
 * 1 when a filter sits on the clsact hook `parent` of `ifindex` (an RTM_GETTFILTER dump),
 * 0 when none does, -errno when the dump fails. libbpf has no call to list filters.
 */
static int tc_has_filters(int ifindex, __u32 parent)
{
	struct {
		struct nlmsghdr n;
		struct tcmsg t;
	} req = {
		.n = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct tcmsg)), .nlmsg_type = RTM_GETTFILTER, .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = 1 },
		.t = { .tcm_family = AF_UNSPEC, .tcm_ifindex = ifindex, .tcm_parent = parent },
	};
	__u32 buf[2048];
	int fd, err = 0, found = 0;
	bool done = false;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	if (send(fd, &req, req.n.nlmsg_len, 0) < 0)
		err = -errno;
	while (!err && !done) {
		int len = (int)recv(fd, buf, sizeof(buf), 0);
		if (len < 0) {
			if (errno != EINTR)
				err = -errno;
			continue;
		}
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; !done && NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_type == NLMSG_DONE)
				done = true;
			else if (h->nlmsg_type == NLMSG_ERROR) {
				err = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
				done = true;
			} else if (h->nlmsg_type == RTM_NEWTFILTER)
				found = 1;
		}
	}
	close(fd);
	return err ? err : found;
}

/*
 * Removes the clsact qdisc this link's attach created, once nothing is attached to it: while
 * another tc link of ebpm's sits on the interface, that link inherits the duty; while anyone
 * else's filter does, the qdisc stays (it is theirs too now). A qdisc ebpm found is left alone.
 */
static void release_qdisc(struct link *l)
{
	struct res *head = &l->r.inst->live;

	if (!l->own_qdisc)
		return;
	l->own_qdisc = false;
	for (struct res *r = head->next; r != head; r = r->next) {
		struct link *o = (struct link *)r;
		if (r != &l->r && r->kind == RES_LINK && o->tc && o->hook.ifindex == l->hook.ifindex) {
			o->own_qdisc = true;
			return;
		}
	}
	if (tc_has_filters(l->hook.ifindex, TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS)) == 0 &&
	    tc_has_filters(l->hook.ifindex, TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS)) == 0) {
		struct bpf_tc_hook qdisc = { .sz = sizeof(qdisc), .ifindex = l->hook.ifindex, .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS };
		bpf_tc_hook_destroy(&qdisc);
	}
}

static void link_release(struct res *r)
{
	struct link *l = (struct link *)r;
	if (l->tc) {
		/* detach takes only handle and priority */
		LIBBPF_OPTS(bpf_tc_opts, opts, .handle = l->opts.handle, .priority = l->opts.priority);
		bpf_tc_detach(&l->hook, &opts);
		release_qdisc(l);
	} else {
		bpf_link__destroy(l->link);
		l->link = NULL;
	}
}

static int attach_tc(struct link *l, struct bpf_program *p, int ifindex, const char *direction, int64_t priority)
{
	int err;

	l->hook = (struct bpf_tc_hook){ .sz = sizeof(l->hook), .ifindex = ifindex };
	if (strcmp(direction, "ingress") == 0)
		l->hook.attach_point = BPF_TC_INGRESS;
	else if (strcmp(direction, "egress") == 0)
		l->hook.attach_point = BPF_TC_EGRESS;
	else
		return -EINVAL;
	err = bpf_tc_hook_create(&l->hook);
	if (err && err != -EEXIST)
		return err;
	l->own_qdisc = err == 0;
	l->opts = (struct bpf_tc_opts){ .sz = sizeof(l->opts), .prog_fd = bpf_program__fd(p), .priority = (__u32)priority };
	err = bpf_tc_attach(&l->hook, &l->opts);
	if (err) {
		release_qdisc(l); /* l is not on the live list yet */
		return err;
	}
	l->tc = true;
	return 0;
}

/* Fills l for target `t` (an object with `kind`); returns 0 or -errno. */
static int attach_target(napi_env env, struct link *l, struct bpf_program *p, napi_value t, char *what, size_t wsize)
{
	char *kind = NULL, *a = NULL, *b = NULL;
	int64_t n = 0, m = 0;
	bool ret = false;
	int err = 0, fd;

	if (!prop_string(env, t, "kind", &kind, true))
		return -EINVAL;
	if (strcmp(kind, "uprobe") == 0) {
		int64_t pid = -1;
		if (!prop_string(env, t, "binary", &a, true) || !prop_string(env, t, "symbol", &b, false) ||
		    !prop_int(env, t, "offset", &n, false) || !prop_int(env, t, "pid", &pid, false) ||
		    !prop_bool(env, t, "retprobe", &ret))
			goto invalid;
		snprintf(what, wsize, "uprobe %s:%s", a, b ? b : "");
		LIBBPF_OPTS(bpf_uprobe_opts, uo, .func_name = b, .retprobe = ret);
		l->link = bpf_program__attach_uprobe_opts(p, (pid_t)pid, a, (size_t)n, &uo);
	} else if (strcmp(kind, "kprobe") == 0) {
		if (!prop_string(env, t, "function", &a, true) || !prop_bool(env, t, "retprobe", &ret))
			goto invalid;
		snprintf(what, wsize, "kprobe %s", a);
		l->link = bpf_program__attach_kprobe(p, ret, a);
	} else if (strcmp(kind, "tracepoint") == 0) {
		if (!prop_string(env, t, "category", &a, true) || !prop_string(env, t, "name", &b, true))
			goto invalid;
		snprintf(what, wsize, "tracepoint %s/%s", a, b);
		l->link = bpf_program__attach_tracepoint(p, a, b);
	} else if (strcmp(kind, "xdp") == 0) {
		if (!prop_int(env, t, "ifindex", &n, true))
			goto invalid;
		snprintf(what, wsize, "xdp ifindex %lld", (long long)n);
		l->link = bpf_program__attach_xdp(p, (int)n);
	} else if (strcmp(kind, "tc") == 0) {
		if (!prop_int(env, t, "ifindex", &n, true) || !prop_string(env, t, "direction", &a, true) ||
		    !prop_int(env, t, "priority", &m, false))
			goto invalid;
		snprintf(what, wsize, "tc %s ifindex %lld", a, (long long)n);
		err = attach_tc(l, p, (int)n, a, m);
		goto out;
	} else if (strcmp(kind, "cgroup") == 0) {
		if (!prop_string(env, t, "path", &a, true))
			goto invalid;
		snprintf(what, wsize, "cgroup %s", a);
		fd = open(a, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			err = -errno;
			goto out;
		}
		/* the link pins the cgroup; our descriptor is not needed afterwards */
		l->link = bpf_program__attach_cgroup(p, fd);
		err = l->link ? 0 : -errno;
		close(fd);
		goto out;
	} else {
		throw_invalid(env, "unknown attach target kind %s", kind);
		goto invalid;
	}
	err = l->link ? 0 : -errno;
	goto out;
invalid:
	err = -EINVAL;
out:
	free(kind);
	free(a);
	free(b);
	return err;
}

/* programAttach(obj, program, target | null) → link handle */
static napi_value program_attach(napi_env env, size_t argc, napi_value *argv)
{
	struct object *o = object_arg(env, argv[0]);
	struct bpf_program *p;
	struct link *l;
	napi_valuetype t;
	char what[320] = "";
	size_t mark;
	int err;

	(void)argc;
	if (!o || !(p = program_arg(env, o, argv[1])))
		return NULL;
	if (bpf_program__fd(p) < 0)
		return throw_errno(env, EINVAL, "attach %s: program is not loaded", bpf_program__name(p));
	l = calloc(1, sizeof(*l));
	if (!l)
		return throw_errno(env, ENOMEM, "attach %s", bpf_program__name(p));
	l->r.inst = get_instance(env); /* a failed tc attach looks for the instance's other links */
	mark = log_mark(l->r.inst);
	napi_typeof(env, argv[2], &t);
	if (t == napi_null || t == napi_undefined) {
		snprintf(what, sizeof(what), "%s", bpf_program__section_name(p));
		l->link = bpf_program__attach(p);
		err = l->link ? 0 : -errno;
	} else if (t == napi_object) {
		err = attach_target(env, l, p, argv[2], what, sizeof(what));
	} else {
		free(l);
		return throw_invalid(env, "attach target must be an object or null");
	}
	if (err) {
		bool pending = false;
		char msg[400];
		napi_value e;

		free(l);
		napi_is_exception_pending(env, &pending);
		if (pending)
			return NULL;
		/* libbpf's warnings say why (no kprobe PMU, a section without a target): the caller reads them */
		snprintf(msg, sizeof(msg), "attach %s: %s", bpf_program__name(p), what);
		e = error_errno(env, err, msg);
		napi_set_named_property(env, e, "messages", log_since(env, get_instance(env), mark));
		napi_throw(env, e);
		return NULL;
	}
	res_track(get_instance(env), &l->r, RES_LINK, link_release);
	return res_wrap(env, &l->r);
}

/* linkDestroy(link): detach; harmless when already destroyed. */
static napi_value link_destroy(napi_env env, size_t argc, napi_value *argv)
{
	struct res *r = res_unwrap(env, argv[0], RES_LINK, true);
	(void)argc;
	if (r)
		res_release(r);
	return NULL;
}

const struct export_def attach_exports[] = {
	{ "programAttach", program_attach, 3 },
	{ "linkDestroy", link_destroy, 1 },
	{ NULL, NULL, 0 },
};
