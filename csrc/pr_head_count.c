/*
 * pr_head_count: the number of functionals D of a valid statistics head.
 */
#include "pr_head_internal.h"

int32_t pr_head_count(const pr_head *head)
{
    return pr_head_check(head);
}
