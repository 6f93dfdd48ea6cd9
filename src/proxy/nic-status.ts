/** NIC register-interface results as the NTSTATUS the driver completes the IRP with. */
import {
  STATUS_ACCESS_DENIED,
  STATUS_INSUFFICIENT_RESOURCES,
  STATUS_INVALID_DEVICE_STATE,
  STATUS_INVALID_HANDLE,
  STATUS_INVALID_PARAMETER,
  STATUS_NOT_SUPPORTED,
  STATUS_SUCCESS,
  STATUS_UNSUCCESSFUL,
  type NTSTATUS,
} from '../kernel/status.ts';
import { NicStatus, type NicStatusCode } from '../nic/index.ts';

export function ntStatusFromNic(status: NicStatusCode): NTSTATUS {
  switch (status) {
    case NicStatus.SUCCESS:
      return STATUS_SUCCESS;
    case NicStatus.INVALID_PARAMETER:
    case NicStatus.REGION_TOO_LARGE:
      return STATUS_INVALID_PARAMETER;
    case NicStatus.INSUFFICIENT_RESOURCES:
    case NicStatus.QUEUE_FULL:
      return STATUS_INSUFFICIENT_RESOURCES;
    case NicStatus.INVALID_HANDLE:
      return STATUS_INVALID_HANDLE;
    case NicStatus.ACCESS_DENIED:
      return STATUS_ACCESS_DENIED;
    case NicStatus.INVALID_STATE:
    case NicStatus.BUSY:
      return STATUS_INVALID_DEVICE_STATE;
    case NicStatus.NOT_SUPPORTED:
      return STATUS_NOT_SUPPORTED;
    default:
      return STATUS_UNSUCCESSFUL;
  }
}
