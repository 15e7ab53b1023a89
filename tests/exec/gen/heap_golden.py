"""Prints the heapq array orders that test_exec_heap.c expects.

Run: python3 tests/exec/gen/heap_golden.py  (plain CPython, no packages).
Items are (number, prompt_id) as ComfyUI's PromptQueue pushes them.
"""
import heapq

ops = [("push", 5, "e"), ("push", 3, "c"), ("push", 8, "h"), ("push", 1, "a"),
       ("push", 3, "b"), ("push", -2, "z"), ("push", 7, "g"), ("push", 3.5, "d"),
       ("pop",), ("delete", "h"), ("push", 0, "y"), ("pop",), ("delete", "c"),
       ("push", 2, "x")]
heap = []
for op in ops:
    if op[0] == "push":
        heapq.heappush(heap, (op[1], op[2]))
    elif op[0] == "pop":
        heapq.heappop(heap)
    else:
        for i, it in enumerate(heap):
            if it[1] == op[1]:
                heap.pop(i)
                heapq.heapify(heap)
                break
    print(" ".join(x[1] for x in heap))
