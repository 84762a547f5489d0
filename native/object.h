/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EBPM_OBJECT_H
#define EBPM_OBJECT_H

#include "ebpm_native.h"

struct object {
	struct res r;
	struct bpf_object *obj;
	char *log_buf; /* verifier log, freed after a successful load */
	bool loaded;
};

struct object *object_arg(napi_env env, napi_value v);
struct bpf_program *program_arg(napi_env env, struct object *o, napi_value v);

#endif
