/*
 * probe.c — the ABI probe (libcomfyd-abi-probe.so).  Each exported
 * function names public types of comfy/comfy.h in its signature, so the
 * debug info abidw reads describes every struct, table and enum of the
 * SDK ABI.  The functions do nothing useful and nothing links them.
 */
#include <comfy/comfy.h>

#define PROBE __attribute__((visibility("default")))

PROBE uint32_t comfy_abi_probe_tensor(const comfy_tensor *t, comfy_dtype d,
                                      comfy_free_fn f);
PROBE uint32_t comfy_abi_probe_defs(const comfy_input_def *i, const comfy_output_def *o,
                                    const comfy_node_def *n, comfy_input_section s);
PROBE uint32_t comfy_abi_probe_call(const comfy_call *c, comfy_execute_fn e,
                                    comfy_check_lazy_fn l, comfy_is_changed_fn ic,
                                    comfy_validate_fn v, comfy_choices_fn ch);
PROBE uint32_t comfy_abi_probe_pack(const comfy_pack_info *p, comfy_pack_entry_fn e);
PROBE uint32_t comfy_abi_probe_host(const comfy_host *h, comfy_host_ctx *ctx,
                                    comfy_registrar *r, const comfy_value *v);
PROBE uint32_t comfy_abi_probe_misc(const comfy_save_path *sp, comfy_status st,
                                    comfy_kind k, comfy_log_level lv);

uint32_t comfy_abi_probe_tensor(const comfy_tensor *t, comfy_dtype d, comfy_free_fn f)
{
    (void)f;
    return (t ? t->size : 0) + (uint32_t)d;
}

uint32_t comfy_abi_probe_defs(const comfy_input_def *i, const comfy_output_def *o,
                              const comfy_node_def *n, comfy_input_section s)
{
    return (i ? i->size : 0) + (o ? o->size : 0) + (n ? n->size : 0) + (uint32_t)s;
}

uint32_t comfy_abi_probe_call(const comfy_call *c, comfy_execute_fn e,
                              comfy_check_lazy_fn l, comfy_is_changed_fn ic,
                              comfy_validate_fn v, comfy_choices_fn ch)
{
    (void)e;
    (void)l;
    (void)ic;
    (void)v;
    (void)ch;
    return c ? c->size : 0;
}

uint32_t comfy_abi_probe_pack(const comfy_pack_info *p, comfy_pack_entry_fn e)
{
    (void)e;
    return p ? p->size : 0;
}

uint32_t comfy_abi_probe_host(const comfy_host *h, comfy_host_ctx *ctx,
                              comfy_registrar *r, const comfy_value *v)
{
    (void)ctx;
    (void)r;
    (void)v;
    return h ? h->size : 0;
}

uint32_t comfy_abi_probe_misc(const comfy_save_path *sp, comfy_status st,
                              comfy_kind k, comfy_log_level lv)
{
    return (sp ? sp->size : 0) + (uint32_t)st + (uint32_t)k + (uint32_t)lv;
}
