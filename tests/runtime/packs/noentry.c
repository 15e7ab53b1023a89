/* A shared object without comfy_pack_entry: must be skipped. */
#include <comfy/comfy.h>

COMFY_EXPORT int rt_noentry_something(void);
int rt_noentry_something(void) { return 42; }
